"""Device runtimes as Ray actors: the actor (`actor.DeviceActor`, a `tfrt_ray.core`
`DeviceRuntime` inside), the Arrow transport between actors, the shared-memory arena, and
the built-in device types, one folder each (`cpu`, `ort`, `gpu`) with what is particular
to it (the CPU's stage passes, the ONNX export, the CuPy kernels)."""
