"""Per-image responses (median or mean over trials) per area x Cre x depth layer, read through allensdk."""
import pandas as pd

from neurorepro.mouse_vs_cnn.pipeline import build_responses
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
p = sm.params
experiments = pd.read_csv(sm.input.experiments, sep="\t")
index = build_responses(p.manifest, experiments, sm.output.responses, sm.output.stimuli, p.seed, p.lag_frames, p.source,
                        p.trial_statistic, p.extracted_dir, p.keep_nwb)
log.info("groups:\n%s", index.to_string())
