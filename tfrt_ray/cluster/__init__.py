"""Clusters: starting or joining Ray, device actors, cluster configs."""
