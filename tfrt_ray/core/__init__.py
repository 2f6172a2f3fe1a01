"""The core runtime: what every front end and every device runs ops with.

- `kernels`: the kernel registry and the NumPy reference kernels, by family;
- `executor`: `CompiledStage`, a subgraph lowered once to a flat list of `Step` records
  (and `concurrent`, its thread-pool schedule for independent heavy ops);
- `device_types`: the `DeviceType` registry (built-in types and plugins), and
  `compile_stage`, which builds a stage the way its device type says (its stage compiler,
  or a `CompiledStage` plus the type's stage passes);
- `runtime`: `DeviceRuntime`, one device's runtime, in-process or inside a device actor;
- `evaluate`: one op on host arrays, for the compiler's constant evaluation.

It imports only the IR, errors and config; device types live in `device_actors/` and are
found by name.
"""
