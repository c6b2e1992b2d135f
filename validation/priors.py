"""The separation and singular-fit examples of the priors issue, with the numbers its closing note quotes
(4 chains x 1000 warmup + 1000 draws, seed 1). The simulated data are those of tests/test_separation.py and
tests/test_diagnose.py.

    python validation/priors.py
"""
import time
import warnings

import numpy as np
import pandas as pd

import bayesmm as bmm
from bayesmm.diagnostics import _density_at_zero_and_mode


def separated_data(seed: int = 2) -> pd.DataFrame:
    """Bernoulli GLMM, 10 groups x 24 rows; treatment level 'c' is all successes."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 24)
    treatment = np.tile(np.array(["a", "b", "c"]), 80)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.7, 10)[g] + np.where(treatment == "b", 0.5, 0.0)
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(int)
    y[treatment == "c"] = 1
    return pd.DataFrame({"y": y, "x": x, "treatment": treatment, "g": [f"g{i}" for i in g]})


def singular_data(seed: int = 3) -> pd.DataFrame:
    """5 groups x 30 rows; intercept SD 1, slope SD 0, residual SD 1."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(5), 30)
    x = np.tile(np.arange(10.0), 15)
    y = 2 + rng.normal(0, 1.0, 5)[g] + 0.5 * x + rng.normal(0, 1.0, 150)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def main() -> None:
    warnings.simplefilter("ignore")
    settings = dict(chains=4, draws=1000, warmup=1000, seed=1)
    for preset in ("default", "separation"):
        start = time.perf_counter()
        fit = bmm.fit("y ~ x + treatment + (1 | g)", separated_data(), family="bernoulli", priors=preset, **settings)
        row = fit.tidy().set_index("term").loc["treatment[c]"]
        print(f"separation / {preset:10s}: treatment[c] {row['estimate']:.2f} ({row['std_error']:.2f}), 95% "
              f"[{row['conf_low']:.2f}, {row['conf_high']:.2f}], Rhat {row['rhat']:.3f}, divergences "
              f"{fit.n_divergent}, {time.perf_counter() - start:.0f} s")
    for preset in ("default", "boundary"):
        start = time.perf_counter()
        fit = bmm.fit("y ~ x + (x | g)", singular_data(), priors=preset, **settings)
        draws = fit.idata.posterior["sd_g"].sel(g__term="x").values.ravel()
        _, mode = _density_at_zero_and_mode(draws)
        row = fit.tidy().set_index("term").loc["sd__x"]
        kinds = sorted({k for k in fit.diagnose()["kind"] if not k.startswith("ess")})
        print(f"singular / {preset:8s}: sd(x) mean {row['estimate']:.3f}, mode {mode:.3f}, 95% "
              f"[{row['conf_low']:.3f}, {row['conf_high']:.3f}], Rhat {row['rhat']:.3f}, divergences "
              f"{fit.n_divergent}, findings {kinds}, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
