# Allen Brain Observatory (Visual Coding 2P) data for mouse_vs_cnn: the embedded cache
# (source: embedded; natural-like images, responses planted from CNN layer or baseline
# features) or allensdk's cache (source: allen), then the experiments to analyse: embedded
# NWBs verified; for real data the download planned (files, GB) and checked against the
# free disk / download.disk_quota_gb. The NWBs themselves are fetched one at a time by
# mouse_vs_cnn_responses, which keeps only the extracted responses unless keep_nwb.
# Settings live in the mouse_vs_cnn config section (keys `embedded`, `areas`, ...).

BO = section("mouse_vs_cnn")
BO_CACHE = resources_path(SOURCE, "brain_observatory")
BO_INPUTS = resources_path("embedded", "brain_observatory_inputs")


rule allen_brain_observatory_stimuli:
    output:
        stimuli=f"{BO_INPUTS}/natural_scenes.nc",
    log:
        "logs/mouse_vs_cnn/allen_brain_observatory_stimuli.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/allen_brain_observatory_stimuli.tsv"
    conda:
        ENV
    threads: rule_resources(None, "allen_brain_observatory_stimuli")["threads"]
    resources:
        **rule_job_resources(None, "allen_brain_observatory_stimuli"),
    params:
        n_images=BO["embedded"]["n_images"],
        image_shape=BO["embedded"]["image_shape"],
        seed=config["seed"],
    script:
        "../scripts/allen_brain_observatory_stimuli.py"


rule allen_brain_observatory_embedded:
    input:
        stimuli=f"{BO_INPUTS}/natural_scenes.nc",
        features=f"{BO_INPUTS}/planting_features.nc",
    output:
        cache=directory(resources_path("embedded", "brain_observatory")),
    log:
        "logs/mouse_vs_cnn/allen_brain_observatory_embedded.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/allen_brain_observatory_embedded.tsv"
    conda:
        ENV
    threads: rule_resources(None, "allen_brain_observatory_embedded")["threads"]
    resources:
        **rule_job_resources(None, "allen_brain_observatory_embedded"),
    params:
        spec=BO["embedded"],
        areas=BO["areas"],
        seed=config["seed"] + 3,
    script:
        "../scripts/allen_brain_observatory_embedded.py"


rule allen_brain_observatory_experiments:
    input:
        cache=[BO_CACHE] if SOURCE == "embedded" else [],
    output:
        experiments="results/mouse_vs_cnn/experiments.tsv",
        plan="results/mouse_vs_cnn/download_plan.json",
    log:
        "logs/mouse_vs_cnn/allen_brain_observatory_experiments.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/allen_brain_observatory_experiments.tsv"
    conda:
        ENV
    threads: rule_resources(None, "allen_brain_observatory_experiments")["threads"]
    resources:
        **rule_job_resources(None, "allen_brain_observatory_experiments"),
    params:
        manifest=f"{BO_CACHE}/manifest.json",
        source=SOURCE,
        download=BO["download"],
        areas=BO["areas"],
        cre_lines=BO["cre_lines"],
        imaging_depths=BO["imaging_depths"],
        max_containers_per_group=BO["max_containers_per_group"],
        skip_epileptiform=BO["skip_epileptiform"],
    script:
        "../scripts/allen_brain_observatory_experiments.py"
