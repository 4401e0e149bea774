"""The sizes of every section per mode: "full" (what the benchmark table reports) and "quick" (seconds, for the
tests; its numbers mean nothing)."""

DIV2K_HR = (1404, 2040)  # (H, W) of a typical DIV2K image; its x4 LR is 351x510
TINY_RRDB = dict(num_block=1, num_feat=16, num_grow_ch=8)  # the quick rows' model: one small RRDB

SIZES = {
    "full": dict(
        matmul=2048,
        conv_sizes=(128, 256),
        lr=128,
        repeat=3,
        models=[
            ("edsr_baseline", {}, "eager"),
            ("edsr_baseline", {}, "fast"),
            ("edsr", {}, "fast"),
            ("srresnet", {}, "eager"),
            ("srresnet", {}, "fast"),
            ("msrresnet", {}, "eager"),
            ("msrresnet", {}, "fast"),
            ("rrdbnet", {}, "eager"),
            ("rrdbnet", {}, "channels_last"),
            ("rrdbnet", {}, "fast"),
            ("rrdbnet", {}, "fast+malloc"),
            ("edsr_baseline", {}, "fast-bf16"),
            ("srresnet", {}, "fast-bf16"),
            ("msrresnet", {}, "fast-bf16"),
            ("rrdbnet", {}, "fast-bf16"),
            ("rrdbnet", {}, "upscale-fp32"),
            ("rrdbnet", {}, "upscale-bf16"),
        ],
        tiling=dict(
            hr=DIV2K_HR,
            runs=[  # (model, overrides, tile, pad[, precision]); untiled is the reference for the same model
                ("rrdbnet", {}, None, 0),
                ("rrdbnet", {}, 256, 16),
                ("rrdbnet", {}, 256, None),  # the default pad
                ("rrdbnet", {}, None, 0, "bf16"),
                ("rrdbnet", {}, 256, None, "bf16"),
                ("edsr", {}, 256, 16),
                ("edsr_baseline", {}, 256, 16),
                ("srresnet", {}, 256, 16),
                ("msrresnet", {}, 256, 16),
            ],
        ),
        train_presets=[
            "edsr_quick",
            "srresnet_quick",
            "srgan_quick",
            "rrdb_psnr_quick",
            "esrgan_quick",
            "edsr_course",
            "srresnet_course",
            "srgan_course",
            "rrdb_psnr_course",
            "esrgan_course",
            "edsr_baseline_paper",
            "srresnet_paper",
            "srgan_paper",
            "rrdb_psnr_paper",
            "esrgan_paper",
        ],
        metric_pairs=100,
        metric_hr=DIV2K_HR,
        data_patches=2048,  # >= 100 batches: the 4 batches the workers prefetch are noise
    ),
    "quick": dict(
        matmul=256,
        conv_sizes=(32,),
        lr=16,
        repeat=1,
        models=[
            ("rrdbnet", TINY_RRDB, "eager"),
            ("rrdbnet", TINY_RRDB, "fast"),
            ("rrdbnet", TINY_RRDB, "upscale-bf16"),
        ],
        tiling=dict(
            hr=(64, 96),
            runs=[
                ("rrdbnet", TINY_RRDB, None, 0),
                ("rrdbnet", TINY_RRDB, 16, 4),
                ("rrdbnet", TINY_RRDB, None, 0, "bf16"),
                ("rrdbnet", TINY_RRDB, 16, None, "bf16"),
            ],
        ),
        train_presets=["rrdb_psnr_quick"],
        metric_pairs=2,
        metric_hr=(64, 64),
        data_patches=8,
    ),
}
