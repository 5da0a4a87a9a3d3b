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
layers = [str(v) for v in xr.open_dataset(sm.input.rsm)["layer"].values]
planted = load_planted(sm.input.cache[0] if sm.input.cache else None)
save_figure(figures.ssm_vs_layer(ssm, p.primary, planted), out.ssm_vs_layer_pdf, out.ssm_vs_layer_png)
save_figure(figures.best_layer_heatmap(best[best["weights"] == p.primary], layers), out.best_layer_heatmap_pdf,
            out.best_layer_heatmap_png)
save_figure(figures.stability_figure(stab), out.stability_pdf, out.stability_png)
claims = build_claims(best, p.primary, p.source, p.scale, planted)
write_claims(out.claims, claims)
for c in claims:
    log.info("claim holds=%s measured=%.3f: %s", c.holds, c.measured, c.claim)
