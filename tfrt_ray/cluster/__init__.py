"""Clusters: starting or joining Ray, sessions, starting device actors and finding
devices, cluster configs."""

# Cluster-config exports, loaded on first use (PEP 562) so that importing
# tfrt_ray.cluster.session does not load pydantic or YAML.
_CONFIG_EXPORTS = (
    "ClusterConfig",
    "check_config_main",
    "load_cluster_config",
    "parse_cluster_config",
)

__all__ = list(_CONFIG_EXPORTS)


def __getattr__(name: str):
    if name in _CONFIG_EXPORTS:
        from tfrt_ray.cluster import config

        return getattr(config, name)
    raise AttributeError(f"module 'tfrt_ray.cluster' has no attribute '{name}'")
