"""CNN-to-CNN robustness: subsets of a layer's units (or of the images) compared with every full layer."""
from neurorepro.io import write_tsv
from neurorepro.mouse_vs_cnn.pipeline import cnn_robustness
from neurorepro.runtime import get_logger, resolve_device, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
set_threads(sm.threads)
p = sm.params
t = cnn_robustness(sm.input.stimuli, sm.input.model, sm.input.rsm, p.warp, p.batch_size, resolve_device(p.device),
                   p.max_units, p.unit_counts, p.image_fractions, p.repeats, p.seed, p.method)
write_tsv(t, sm.output.table)
log.info("identified within one layer, by axis and size:\n%s",
         t.assign(ok=t["distance"] <= 1).groupby(["axis", "size"])["ok"].mean().to_string())
