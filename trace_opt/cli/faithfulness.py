"""``faithfulness``: tests outside the metric TRACE optimises (TPN / TPS, Quantus' ROAD and correlations,
the model-in-the-loop null / saturation tests, ROAR on the digits8 CNN; BAM on digits pasted on textures);
resumable, writes OUT/report.md."""

from __future__ import annotations

from pathlib import Path


def add_faithfulness_parser(sub) -> None:
    """The ``faithfulness`` subcommand."""
    from trace_opt.cli._args import int_at_least

    p = sub.add_parser(
        "faithfulness",
        help="faithfulness tests outside the optimised deletion curves (digits8)",
        description="Runs the parts named by --parts (resuming from OUT's caches) and writes OUT/report.md.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("reports/faithfulness"),
        metavar="DIR",
        help="output folder; reruns resume from its caches (default: reports/faithfulness)",
    )
    p.add_argument(
        "--parts",
        nargs="+",
        default=["metrics", "model-tests", "roar", "bam"],
        choices=["metrics", "model-tests", "roar", "bam", "report"],
        help="the parts run (default: metrics model-tests roar bam; the report is written after any)",
    )
    p.add_argument("--n", type=int_at_least(1), default=50, help="inputs for the per-input metrics (default 50)")
    p.add_argument("--n-model-tests", type=int_at_least(3), default=30, help="generated samples per test (default 30)")
    p.add_argument(
        "--sa-iterations", type=int_at_least(1), default=2000, help="SA iterations K of the TRACE runs (default: 2000)"
    )
    p.add_argument("--n-bam", type=int_at_least(2), default=50, help="inputs per BAM test (default 50)")
    p.add_argument("--bam-sa-iterations", type=int_at_least(1), default=500, help="SA K of TRACE in BAM (default 500)")
    p.set_defaults(func=run)


def run(args) -> int:
    import warnings

    from trace_opt.core.io import check_output_dir
    from trace_opt.faithfulness.metrics import run_faithfulness, write_faithfulness_report
    from trace_opt.models.data import load_digits_split

    check_output_dir("--out", args.out)  # a file or an unwritable place is refused before any work
    if "metrics" in args.parts:
        n_test = len(load_digits_split(8)[1])
        if args.n > n_test:
            raise ValueError(f"--n {args.n} is more than the {n_test} digits8 test inputs; expected 1..{n_test}")
    if args.parts == ["report"] and not any(
        (args.out / part).is_dir() for part in ("digits8", "model_tests", "roar", "roar_zeros", "bam")
    ):
        raise ValueError(
            f"--parts report: {str(args.out)!r} holds no finished part to report (digits8, model_tests, "
            "roar, bam); run the parts first (the default --parts)"
        )
    warnings.filterwarnings("ignore", module=r"quantus\..*")
    if "metrics" in args.parts:
        run_faithfulness(args.n, args.out / "digits8", sa_iterations=args.sa_iterations)
    if "model-tests" in args.parts:
        from trace_opt.faithfulness.model_tests import run_model_tests

        run_model_tests(args.out / "model_tests", n=args.n_model_tests, steps=250, sa_iterations=1000)
    if "roar" in args.parts:
        from trace_opt.faithfulness.roar import run_roar

        run_roar(
            args.out / "roar",
            n_train=400,
            n_test=200,
            methods=("random", "saliency", "integrated-gradients", "occlusion", "trace-y-le-mo"),
            seeds=(0, 1, 2, 3, 4),
            epochs=15,
            sa_iterations=300,
        )
        run_roar(
            args.out / "roar_zeros",
            n_train=400,
            n_test=200,
            methods=("random", "saliency", "integrated-gradients", "occlusion", "trace-y-le-mo"),
            seeds=(0, 1, 2, 3, 4),
            epochs=15,
            sa_iterations=300,
            fill="zeros",
            orders_dir=args.out / "roar",
        )
    if "bam" in args.parts:
        from trace_opt.faithfulness.bam import run_bam

        run_bam(args.out / "bam", n=args.n_bam, sa_iterations=args.bam_sa_iterations)
    write_faithfulness_report(
        args.out, "python -m trace_opt " + " ".join(getattr(args, "argv", []) or ["faithfulness"])
    )
    return 0
