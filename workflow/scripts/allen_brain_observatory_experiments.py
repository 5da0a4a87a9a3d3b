"""Select natural-scenes experiments (area x Cre x depth); verify (embedded) or plan and disk-check (allen) their NWBs."""
from neurorepro.io import write_json, write_tsv
from neurorepro.mouse_vs_cnn.pipeline import select_and_plan
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
p = sm.params
df, plan = select_and_plan(p.manifest, p.areas, p.cre_lines, p.imaging_depths, p.max_containers_per_group,
                           p.skip_epileptiform, p.source, p.download)
write_tsv(df, sm.output.experiments)
write_json(plan, sm.output.plan)
log.info("%d experiments in %d groups; download plan %s", len(df), df["group"].nunique(), plan)
