"""Figures (PDF + PNG) and claims.json of mouse_vs_cnn."""
import pandas as pd
import xarray as xr

from neurorepro.claims import write_claims
from neurorepro.mouse_vs_cnn import figures
from neurorepro.mouse_vs_cnn.pipeline import build_claims, load_planted
from neurorepro.plotting import save_figure
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
p, out = sm.params, sm.output
ssm = pd.read_csv(sm.input.ssm, sep="\t")
best = pd.read_csv(sm.input.best, sep="\t")
stab = pd.read_csv(sm.input.stability, sep="\t")
rob = pd.read_csv(sm.input.robustness, sep="\t")
boot = xr.open_dataset(sm.input.bootstrap).load()
layers = [str(v) for v in xr.open_dataset(sm.input.rsm)["layer"].values]
planted = load_planted(sm.input.cache[0] if sm.input.cache else None)
save_figure(figures.ssm_vs_layer(ssm, p.primary, planted), out.ssm_vs_layer_pdf, out.ssm_vs_layer_png)
save_figure(figures.best_layer_heatmap(best[best["weights"] == p.primary], layers, ssm), out.best_layer_heatmap_pdf,
            out.best_layer_heatmap_png)
save_figure(figures.stability_figure(stab), out.stability_pdf, out.stability_png)
save_figure(figures.cnn_subsampling_figure(rob), out.cnn_subsampling_pdf, out.cnn_subsampling_png)
claims = build_claims(ssm, boot, rob, p.primary, p.source, p.scale, planted, p.alpha, p.seed, p.robust_units,
                      p.robust_image_fraction)
write_claims(out.claims, claims)
for c in claims:
    log.info("%s %s measured=%.3f ci=%s: %s", c.kind, c.outcome, c.measured, c.ci, c.claim)
