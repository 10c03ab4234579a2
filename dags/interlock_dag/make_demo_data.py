"""DAG helpers: write a demo training CSV from the rows the held-out set never contains.

    python dags/interlock_dag/make_demo_data.py OUT.csv --rows N --seed S [--noise F]

Fewer rows and more label noise make a worse model, so a demo can land a weak day-1 file
(`--rows 60 --noise 0.3`) and a better day-2 file (`--rows 350`). Needs scikit-learn.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

if not __package__:
    # Run as a script: make the `interlock_dag` package importable from its parent folder.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interlock_dag.dataset import TARGET, load
from interlock_dag.inputs import Cleaned


def demo_csv(rows: int, seed: int, noise: float) -> str:
    data = load()
    if not 1 <= rows <= len(data.pool):
        raise ValueError(f"--rows must be between 1 and {len(data.pool)} (rows not held out)")
    if not 0.0 <= noise <= 1.0:
        raise ValueError("--noise is a fraction between 0 and 1")
    rng = random.Random(seed)
    chosen = rng.sample(range(len(data.pool)), rows)
    flipped = set(rng.sample(chosen, round(noise * rows)))
    table = [
        [
            *data.pool.features[i],
            float(1 - data.pool.labels[i] if i in flipped else data.pool.labels[i]),
        ]
        for i in chosen
    ]
    return Cleaned(header=[*data.feature_names, TARGET], rows=table, dropped=0).to_csv()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a demo training CSV (never held-out rows).")
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--noise", type=float, default=0.0, help="fraction of labels flipped")
    args = parser.parse_args(argv)
    try:
        text = demo_csv(args.rows, args.seed, args.noise)
    except ValueError as e:
        parser.error(str(e))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.rows} rows ({args.noise:.0%} labels flipped) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
