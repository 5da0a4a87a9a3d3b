"""Time and memory of mouse_vs_cnn's heavy steps at (or extrapolated to) paper scale.

Not a rule: run by hand, e.g.

    .venv/bin/python workflow/scripts/mouse_vs_cnn_benchmark.py --n-images 118 --threads 2
    .venv/bin/python workflow/scripts/mouse_vs_cnn_benchmark.py --n-images 16   # quick

Steps: (1) natural scenes as the mouse saw them (monitor + warp, 918 x 1174 templates);
(2) VGG16 (random weights, torchvision layout) RSMs of all 18 conv/pool layers at 224 px;
(3) reading one NWB of paper size (cells x frames of a three_session_B) through allensdk
and reducing it to trial averages; (4) SSM of one neural group against 18 layers with the
permutation null. Prints JSON with seconds, peak RSS, and per-unit costs to extrapolate.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


class _Timer:
    """Wall and CPU (all threads) seconds of a block: on a shared machine CPU time is the
    stable number; wall time on an idle machine is about CPU time / threads."""

    def __init__(self, out: dict, key: str):
        self.out, self.key = out, key

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.out[f"{self.key}_wall_s"] = round(time.perf_counter() - self.w, 3)
        self.out[f"{self.key}_cpu_s"] = round(time.process_time() - self.c, 3)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=118)
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--cells", type=int, default=200, help="cells in the NWB read in step 3")
    ap.add_argument("--repeats", type=int, default=50, help="presentations per image in the NWB of step 3")
    ap.add_argument("--group-cells", type=int, default=2000, help="cells of the neural group in step 4")
    ap.add_argument("--permutations", type=int, default=1000)
    args = ap.parse_args()

    from neurorepro.allen import brain_observatory as bo
    from neurorepro.allen import embedded_brain_observatory as ebo
    from neurorepro.mouse_vs_cnn import analysis, cnn, images
    from neurorepro.runtime import resolve_device, set_threads

    set_threads(args.threads)
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    out: dict = {"n_images": args.n_images, "input_size": args.input_size, "threads": args.threads, "device": str(device)}

    template = ebo.synthetic_natural_images(args.n_images, (918, 1174), rng)
    with _Timer(out, "mouse_view"):
        views = images.mouse_view(template, warp=True, downsample=images.view_downsample(args.input_size))
        x = images.cnn_input(views, args.input_size)

    model = cnn.TaskCNN("vgg16", "random", args.input_size, seed=0, device=device).fit().model_
    with _Timer(out, "vgg16_rsm_all_layers"):
        names, mats = cnn.layer_rsms(model, x, args.batch_size, device)
    out["vgg16_cpu_s_per_image"] = out["vgg16_rsm_all_layers_cpu_s"] / args.n_images
    out["peak_rss_mb_after_vgg16"] = _rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        rates = rng.uniform(0.05, 0.3, (args.cells, args.n_images))
        dff, ts, frame_index, frame_duration = ebo.simulate_session(rates, args.repeats, 7, rng)
        path = Path(tmp) / "1.nwb"
        ebo.write_nwb(path, experiment_id=1, container_id=2, area="VISp", cre_line="Cux2-CreERT2", imaging_depth=175,
                      session_type="three_session_B", cell_specimen_ids=np.arange(args.cells), dff=dff, timestamps=ts,
                      frame_index=frame_index, frame_duration=frame_duration, template=template[:, ::4, ::4])
        from allensdk.core.brain_observatory_nwb_data_set import BrainObservatoryNwbDataSet

        with _Timer(out, "nwb_read_and_average"):
            bo.verify_nwb(path)
            r = bo.natural_scene_responses(BrainObservatoryNwbDataSet(str(path)), 1)
            bo.trial_average(r.responses, r.frame, args.n_images, rng)
        out["nwb_frames"] = int(dff.shape[1])
        out["nwb_cells"] = args.cells

    resp = rng.standard_normal((args.group_cells, args.n_images))
    g = analysis.NeuralGroup("g", "VISp", "all", "all", resp, np.stack([resp, resp]))
    with _Timer(out, "ssm_one_group_all_layers"):
        analysis.compare_group(g, mats, names, rng, args.permutations)
    out["permutations"] = args.permutations
    out["peak_rss_mb"] = _rss_mb()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
