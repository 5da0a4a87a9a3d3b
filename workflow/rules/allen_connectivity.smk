# Allen Mouse Connectivity data: the embedded cache (source: embedded) or allensdk's
# download (source: allen), then the regression problem X, Y, Omega of Harris et al. 2016.

CONN = section("connectivity")
CONN_CACHE = resources_path(SOURCE, "connectivity")


def _selection_params():
    keys = (
        "source_areas", "target_areas", "hemisphere", "min_injection_fraction_in_source",
        "max_injection_volume_mm3", "injection_site_min_fraction", "data_mask_threshold",
        "min_data_coverage",
    )
    return {k: CONN[k] for k in keys}


rule connectivity_embedded_cache:
    output:
        cache=directory(resources_path("embedded", "connectivity")),
    params:
        spec=CONN["embedded"],
        resolution=CONN["resolution"],
        seed=config["seed"],
    log:
        "logs/connectivity/connectivity_embedded_cache.log",
    benchmark:
        "benchmarks/connectivity/connectivity_embedded_cache.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/allen_connectivity_embedded_cache.py"


rule connectivity_download:
    output:
        done=resources_path("allen", "connectivity", "download_complete.json"),
    params:
        cache=resources_path("allen", "connectivity"),
        resolution=CONN["resolution"],
        selection=_selection_params(),
        allen_api=config["allen_api"],
        download=config["download"],
    log:
        "logs/connectivity/connectivity_download.log",
    benchmark:
        "benchmarks/connectivity/connectivity_download.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
    conda:
        ENV
    script:
        "../scripts/allen_connectivity_download.py"


rule connectivity_data:
    input:
        cache=(
            CONN_CACHE
            if SOURCE == "embedded"
            else resources_path("allen", "connectivity", "download_complete.json")
        ),
    output:
        data="results/connectivity/data.nc",
    params:
        cache=CONN_CACHE,
        offline=SOURCE == "embedded",
        resolution=CONN["resolution"],
        selection=_selection_params(),
        source=SOURCE,
        scale=SCALE,
        seed=config["seed"],
    log:
        "logs/connectivity/connectivity_data.log",
    benchmark:
        "benchmarks/connectivity/connectivity_data.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/allen_connectivity_data.py"


register_target("connectivity_data", rules.connectivity_data.output)
