using LZN.Native.Backends;
using LZN.Native.IO;

namespace LZN.Native.Optim;

/// <summary>
/// Exponential moving average of parameters with the reference warm-up: update n (0-based) uses
/// decay_eff = min(decay, (1 + n) / (10 + n)), so early shadows follow the weights closely (0.1, 0.18, ...)
/// and the configured decay takes over later. Shadows start as copies of the values.
/// In float32 an update (1 - d)(value - shadow) below half an ulp of the shadow is lost; the reference (fp32)
/// has the same limit.
/// </summary>
public sealed class Ema : IDisposable
{
    private readonly IBackend _backend;
    private readonly IReadOnlyList<ITrainableParameter> _parameters;
    private readonly Dictionary<string, FloatBuffer> _shadows = new(StringComparer.Ordinal); // [n] each
    private bool _disposed;

    public Ema(IBackend backend, IReadOnlyList<ITrainableParameter> parameters, double decay)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(decay is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must lie in [0, 1].");
        _backend = backend;
        _parameters = parameters;
        Decay = decay;
        try
        {
            foreach (var parameter in parameters)
            {
                if (_shadows.ContainsKey(parameter.Name))
                    throw new ArgumentException($"parameter '{parameter.Name}' appears twice.", nameof(parameters));
                var shadow = backend.AllocateFloat(parameter.Value.Length); // [n]
                _shadows.Add(parameter.Name, shadow);
                backend.Copy(parameter.Value, shadow);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public double Decay { get; }

    /// <summary>Updates applied so far (the n of the warm-up rule).</summary>
    public long UpdateCount { get; private set; }

    /// <summary>decay_eff = min(decay, (1 + n) / (10 + n)).</summary>
    public static double EffectiveDecay(double decay, long updateIndex) => Math.Min(decay, (1.0 + updateIndex) / (10.0 + updateIndex));

    /// <summary>The shadow of parameter <paramref name="name"/> [n].</summary>
    public FloatBuffer Shadow(string name) => _shadows[name];

    /// <summary>shadow += (1 - decay_eff) (value - shadow) for every parameter.</summary>
    public void Update()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        double decay = EffectiveDecay(Decay, UpdateCount);
        foreach (var parameter in _parameters)
            _backend.Optimizer.EmaUpdate(_shadows[parameter.Name], parameter.Value, decay);
        UpdateCount++;
    }

    /// <summary>Copies each shadow into the value of the same-named parameter of <paramref name="destination"/> (e.g. an evaluation model).</summary>
    public void CopyTo(IEnumerable<ITrainableParameter> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var parameter in destination)
            _backend.Copy(_shadows[parameter.Name], parameter.Value);
    }

    /// <summary>The state as named tensors: ema/{parameter} (F32 [n]) and ema/updates (I64 [1]).</summary>
    public IEnumerable<SafeTensor> ExportState()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        yield return StateTensors.Export("ema/updates", UpdateCount);
        foreach (var (name, shadow) in _shadows)
            yield return StateTensors.Export($"ema/{name}", shadow);
    }

    /// <summary>Restores what <see cref="ExportState"/> wrote (other tensors in the list are ignored).</summary>
    public void ImportState(IEnumerable<SafeTensor> tensors)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var state = new StateTensors(tensors);
        long updates = state.Counter("ema/updates");
        var uploads = _shadows.Select(pair => state.Upload($"ema/{pair.Key}", pair.Value)).ToList();
        uploads.ForEach(upload => upload());
        UpdateCount = updates;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var shadow in _shadows.Values)
            shadow.Dispose();
    }
}
