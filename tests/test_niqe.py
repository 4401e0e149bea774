"""srlib.niqe: a pristine model fitted on photographs prefers sharp images to blurred ones."""

import numpy as np
import pytest
import skimage.data

from srlib.imresize import imresize, modcrop
from srlib.niqe import fit_niqe, niqe


def test_niqe_prefers_sharp_natural_images():
    photos = [getattr(skimage.data, n)().astype(np.float32) / 255 for n in ("astronaut", "chelsea", "rocket")]
    model = fit_niqe(photos)
    assert model["images"] == 3 and model["mu"].shape == (36,) and model["cov"].shape == (36, 36)
    hr = modcrop(skimage.data.coffee().astype(np.float32) / 255, 4)
    blurred = imresize(imresize(hr, 1 / 4), 4).clip(0, 1)
    assert niqe(hr, model) < niqe(blurred, model)
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(hr[:100, :100], model)
