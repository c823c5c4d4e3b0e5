using LZN.Native.Backends;

namespace LZN.Native.RectifiedFlow;

/// <summary>
/// The model of a rectified flow as an ODE right-hand side: writes v(x, t) into <paramref name="velocity"/>
/// for points <paramref name="x"/> at time <paramref name="time"/> (t = 0 noise, t = 1 data). Both buffers have
/// the same length ([rows, rowLength] for a batch); the solvers never pass aliasing buffers.
/// </summary>
public delegate void VelocityField(FloatBuffer x, float time, FloatBuffer velocity);
