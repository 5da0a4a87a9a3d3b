"""Rule credit_assignment_train: one learning rule on one task, all seeds (+ remedy variants)."""
from neurorepro.credit_assignment.experiment import run_seeds
from neurorepro.credit_assignment.tasks import make_task
from neurorepro.credit_assignment.train import Remedy
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger, resolve_device, seed_everything, set_threads

sm = snakemake  # noqa: F821
p = sm.params
log = get_logger("credit_assignment_train", sm.log[0])
set_threads(sm.threads)
seed_everything(p.seed)
device = resolve_device(p.device)
task = make_task(sm.wildcards.task, seed=p.seed, **p.task)
log.info("task %s: %d train / %d test trials of %d steps x %d inputs; rule %s on %s",
         task.name, len(task.y_train), len(task.y_test), task.n_steps, task.n_in, sm.wildcards.rule, device)
# a remedy entry leaves out lr_scale / weight_decay it does not change: Remedy's defaults (1, 0) stand for them
remedies = [Remedy(**{k: v for k, v in r.items() if k != "rules"}) for r in p.remedies
            if sm.wildcards.rule in r["rules"]]
ds = run_seeds(task, sm.wildcards.rule, n_seeds=p.n_seeds, base_seed=p.seed,
               trainer_kw=dict(p.trainer, device=device), remedies=remedies, log=log)
ds.attrs.update(scale=p.scale, seed=p.seed, device=str(device))
write_netcdf(ds, sm.output[0])
