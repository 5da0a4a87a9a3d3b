# Allen Mouse Connectivity data: the embedded cache (source: embedded) or allensdk's
# download (source: allen), then the regression problem X, Y, Omega of Harris et al. 2016.

CONN = section("connectivity")


CONN_USER_CACHE = _user_cache()
CONN_CACHE = CONN_USER_CACHE or resources_path(SOURCE, "connectivity")


rule connectivity_embedded_cache:
    output:
        cache=directory(resources_path("embedded", "connectivity")),
    log:
        "logs/connectivity/connectivity_embedded_cache.log",
    benchmark:
        "benchmarks/connectivity/connectivity_embedded_cache.tsv"
    conda:
        ENV
    threads: rule_resources(None, "connectivity_embedded_cache")["threads"]
    resources:
        **rule_job_resources(None, "connectivity_embedded_cache"),
    params:
        spec=CONN["embedded"],
        resolution=CONN["resolution"],
        seed=config["seed"],
    script:
        "../scripts/allen_connectivity_embedded_cache.py"


rule connectivity_download:
    output:
        done=resources_path("allen", "connectivity", "download_complete.json"),
    log:
        "logs/connectivity/connectivity_download.log",
    benchmark:
        "benchmarks/connectivity/connectivity_download.tsv"
    conda:
        ENV
    threads: rule_resources(None, "connectivity_download")["threads"]
    resources:
        **rule_job_resources(None, "connectivity_download"),
    params:
        # the cache folder: a user's own, else the folder of the completion marker
        cache=lambda wildcards, output: CONN_USER_CACHE or str(Path(output.done).parent),
        user_cache=CONN_USER_CACHE is not None,
        resolution=CONN["resolution"],
        selection=_selection_params(),
        allen_api=config["allen_api"],
        download=config["download"],
    script:
        "../scripts/allen_connectivity_download.py"


rule connectivity_data:
    input:
        cache=(
            CONN_CACHE if SOURCE == "embedded" else resources_path("allen", "connectivity", "download_complete.json")
        ),
    output:
        data="results/connectivity/data.nc",
    log:
        "logs/connectivity/connectivity_data.log",
    benchmark:
        "benchmarks/connectivity/connectivity_data.tsv"
    conda:
        ENV
    threads: rule_resources(None, "connectivity_data")["threads"]
    resources:
        **rule_job_resources(None, "connectivity_data"),
    params:
        # the cache folder itself (embedded), or the folder of allensdk's download
        cache=lambda wildcards, input: (
            input.cache if SOURCE == "embedded" else CONN_USER_CACHE or str(Path(input.cache).parent)
        ),
        offline=SOURCE == "embedded",
        resolution=CONN["resolution"],
        selection=_selection_params(),
        source=SOURCE,
        scale=SCALE,
        seed=config["seed"],
    script:
        "../scripts/allen_connectivity_data.py"


register_target("connectivity_data", rules.connectivity_data.output)
