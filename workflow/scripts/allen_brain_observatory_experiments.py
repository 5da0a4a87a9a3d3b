"""Select natural-scenes experiments (area x Cre x depth) and fetch/verify their NWB files."""
from neurorepro.io import write_tsv
from neurorepro.mouse_vs_cnn.pipeline import select_and_fetch
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
p = sm.params
df = select_and_fetch(p.manifest, p.areas, p.cre_lines, p.imaging_depths, p.max_containers_per_group,
                      p.skip_epileptiform, p.allow_download)
write_tsv(df, sm.output.experiments)
log.info("%d experiments in %d groups", len(df), df["group"].nunique())
