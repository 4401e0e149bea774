"""Published and reported numbers the course compares itself with, each with its source.

Literals only: nothing here is measured by srlib. Sources are the papers' tables and READMEs as collected in
``../shared/REFERENCE.md`` (sections 1 and 5); ``srlib.compare.metrics_table`` puts the PSNR / SSIM rows
beside ours, ``srlib.mos.reference_mos_rows`` and ``plot_reference_mos`` show the MOS.
"""

# x4 PSNR (dB) / SSIM on Y, crop 4, MATLAB-bicubic LR (REFERENCE.md section 5). Family -> rows of
# (method, trained on ("-": no weights), source, {dataset: (PSNR, SSIM)}).
PUBLISHED_X4 = {
    "Bicubic": [("Bicubic", "-", "ESRGAN paper, supplementary",
                 {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027), "BSD100": (25.96, 0.6675),
                  "Urban100": (23.14, 0.6577)})],
    "EDSR": [("EDSR (paper, 43M params)", "DIV2K", "ESRGAN README",
              {"Set5": (32.46, 0.8968), "Set14": (28.80, 0.7876), "BSD100": (27.71, 0.7420),
               "Urban100": (26.64, 0.8033)}),
             ("EDSR baseline (1.5M)", "DIV2K", "torchSR README",
              {"Set5": (32.09, 0.8936), "Set14": (28.58, 0.7804), "BSD100": (27.56, 0.7354),
               "Urban100": (26.03, 0.7842)})],
    "SRGAN": [("SRResNet", "ImageNet subset", "SRGAN paper (as quoted)",
               {"Set5": (32.05, 0.9019), "Set14": (28.49, 0.8184), "BSD100": (27.58, 0.7620)}),
              ("SRGAN", "ImageNet subset", "SRGAN paper (as quoted)",
               {"Set5": (29.40, 0.8472), "Set14": (26.02, 0.7397), "BSD100": (25.16, 0.6688)})],
    "ESRGAN": [("RRDB_PSNR (the ESRGAN generator before the GAN stage)", "DF2K", "ESRGAN README",
                {"Set5": (32.73, 0.9011), "Set14": (28.99, 0.7917), "BSD100": (27.85, 0.7455),
                 "Urban100": (27.03, 0.8153)})],
}  # fmt: skip

# The original course report's MOS table (1-5, higher is better). Raters, images and protocol were not
# reported, so these numbers carry no interval and cannot be compared with a new study.
REPORTED_MOS = {"EDSR": 4.0, "SRGAN": 4.3, "ESRGAN": 4.6}
# SRGAN paper (Ledig et al., CVPR 2017), MOS study: 26 raters, 1-5, x4, NN = 1 and HR = 5 calibration.
PUBLISHED_SRGAN_MOS = {
    "Set5": {"bicubic": 1.97, "SRResNet": 3.37, "SRGAN": 3.58, "HR": 4.32},
    "Set14": {"bicubic": 1.80, "SRResNet": 2.98, "SRGAN": 3.72, "HR": 4.32},
    "BSD100": {"bicubic": 1.47, "SRResNet": 2.29, "SRGAN": 3.56, "HR": 4.46},
}
