"""The separation and singular-fit examples, with the numbers validation/README.md quotes
(4 chains x 1000 warmup + 1000 draws, seed 1). The simulated data are
``bmm.datasets.simulate('separation')`` and ``simulate('singular')``, as in the tests.

    python validation/priors.py
"""
import time
import warnings


import bayesmm as bmm
from bayesmm.answers.diagnostics import density_at_zero_and_mode






def main() -> None:
    warnings.simplefilter("ignore")
    settings = dict(chains=4, draws=1000, warmup=1000, seed=1)
    for preset in ("default", "separation"):
        start = time.perf_counter()
        fit = bmm.fit("y ~ x + treatment + (1 | g)", bmm.datasets.simulate("separation"), family="bernoulli", priors=preset, **settings)
        row = fit.tidy().set_index("term").loc["treatment[c]"]
        print(f"separation / {preset:10s}: treatment[c] {row['estimate']:.2f} ({row['std_error']:.2f}), 95% "
              f"[{row['conf_low']:.2f}, {row['conf_high']:.2f}], Rhat {row['rhat']:.3f}, divergences "
              f"{fit.n_divergent}, {time.perf_counter() - start:.0f} s")
    for preset in ("default", "boundary"):
        start = time.perf_counter()
        fit = bmm.fit("y ~ x + (x | g)", bmm.datasets.simulate("singular"), priors=preset, **settings)
        draws = fit.idata.posterior["sd_g"].sel(g__term="x").values.ravel()
        _, mode = density_at_zero_and_mode(draws)
        row = fit.tidy().set_index("term").loc["sd__x"]
        kinds = sorted({k for k in fit.diagnose()["kind"] if not k.startswith("ess")})
        print(f"singular / {preset:8s}: sd(x) mean {row['estimate']:.3f}, mode {mode:.3f}, 95% "
              f"[{row['conf_low']:.3f}, {row['conf_high']:.3f}], Rhat {row['rhat']:.3f}, divergences "
              f"{fit.n_divergent}, findings {kinds}, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
