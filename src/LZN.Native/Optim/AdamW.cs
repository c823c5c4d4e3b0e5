using LZN.Native.Backends;
using LZN.Native.IO;

namespace LZN.Native.Optim;

/// <summary>
/// Adam / AdamW over parameter groups with per-group learning rate, betas, weight decay and freezing, one fused
/// kernel call (<see cref="IOptimizerKernels.AdamStep"/>) per parameter tensor. The moments live on the
/// parameters' backend. <see cref="Iteration"/> counts applied optimiser steps; each group's bias corrections
/// use its own step count, which stops when the group freezes (like PyTorch's per-parameter step).
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly IBackend _backend;
    private readonly Dictionary<string, (FloatBuffer First, FloatBuffer Second)> _moments = new(StringComparer.Ordinal); // [n] each
    private readonly long[] _groupSteps;
    private bool _disposed;

    public AdamW(IBackend backend, IReadOnlyList<ParameterGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(groups);
        var groupNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            if (!groupNames.Add(group.Name))
                throw new ArgumentException($"parameter group '{group.Name}' appears twice.", nameof(groups));
        }
        _backend = backend;
        Groups = groups;
        _groupSteps = new long[groups.Count];
        try
        {
            foreach (var parameter in groups.SelectMany(group => group.Parameters))
            {
                if (parameter.Value.Backend != backend || parameter.Grad.Backend != backend)
                    throw new ArgumentException($"parameter '{parameter.Name}' lives on another backend.", nameof(groups));
                if (_moments.ContainsKey(parameter.Name))
                    throw new ArgumentException($"parameter '{parameter.Name}' appears twice.", nameof(groups));
                _moments.Add(parameter.Name, (backend.AllocateFloat(parameter.Value.Length), backend.AllocateFloat(parameter.Value.Length)));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>Optimiser steps applied so far (skipped steps are not counted).</summary>
    public long Iteration { get; private set; }

    /// <summary>True once the group's <see cref="ParameterGroupOptions.FrozenAfter"/> iterations have been applied.</summary>
    public bool IsFrozen(ParameterGroup group) => group.Options.FrozenAfter is long limit && Iteration >= limit;

    /// <summary>Adam steps group <paramref name="groupIndex"/> has taken (the n of its bias corrections).</summary>
    public long GroupStep(int groupIndex) => _groupSteps[groupIndex];

    /// <summary>The parameters of every group that is not frozen at the current iteration.</summary>
    public IEnumerable<ITrainableParameter> ActiveParameters() =>
        Groups.Where(group => !IsFrozen(group)).SelectMany(group => group.Parameters);

    /// <summary>First and second moments of a parameter [n] each (tests, diagnostics).</summary>
    public (FloatBuffer First, FloatBuffer Second) Moments(string parameterName) => _moments[parameterName];

    /// <summary>Sets every gradient of every group to zero.</summary>
    public void ZeroGradients()
    {
        foreach (var parameter in Groups.SelectMany(group => group.Parameters))
            _backend.Fill(parameter.Grad, 0f);
    }

    /// <summary>
    /// One step for every group that is not frozen: learning rate = group rate * <paramref name="learningRateFactor"/>
    /// (the warm-up), gradients multiplied by <paramref name="gradientScale"/> (the clipping factor).
    /// </summary>
    public void Step(double learningRateFactor = 1, float gradientScale = 1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!(learningRateFactor >= 0) || !float.IsFinite(gradientScale))
            throw new ArgumentOutOfRangeException(nameof(learningRateFactor), $"learning-rate factor {learningRateFactor}, gradient scale {gradientScale}.");
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            if (IsFrozen(group))
                continue;
            long step = ++_groupSteps[g];
            var options = group.Options;
            foreach (var parameter in group.Parameters)
            {
                var (first, second) = _moments[parameter.Name];
                _backend.Optimizer.AdamStep(new AdamStepArgs
                {
                    Parameters = parameter.Value,
                    Gradients = parameter.Grad,
                    FirstMoments = first,
                    SecondMoments = second,
                    LearningRate = options.LearningRate * learningRateFactor,
                    Beta1 = options.Beta1,
                    Beta2 = options.Beta2,
                    Epsilon = options.Epsilon,
                    WeightDecay = options.WeightDecay,
                    DecoupledWeightDecay = options.DecoupledWeightDecay,
                    Step = step,
                    GradientScale = gradientScale,
                });
            }
        }
        Iteration++;
    }

    /// <summary>
    /// The state as named tensors: adam/m/{parameter}, adam/v/{parameter} (F32 [n]), adam/step/{group} and
    /// adam/iteration (I64 [1]). Hyper-parameters are configuration, not state, and are not included.
    /// </summary>
    public IEnumerable<SafeTensor> ExportState()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        yield return StateTensors.Export("adam/iteration", Iteration);
        for (int g = 0; g < Groups.Count; g++)
            yield return StateTensors.Export($"adam/step/{Groups[g].Name}", _groupSteps[g]);
        foreach (var (name, (first, second)) in _moments)
        {
            yield return StateTensors.Export($"adam/m/{name}", first);
            yield return StateTensors.Export($"adam/v/{name}", second);
        }
    }

    /// <summary>Restores what <see cref="ExportState"/> wrote (other tensors in the list are ignored).</summary>
    public void ImportState(IEnumerable<SafeTensor> tensors)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var state = new StateTensors(tensors);
        long iteration = state.Counter("adam/iteration");
        var steps = new long[Groups.Count];
        for (int g = 0; g < Groups.Count; g++)
            steps[g] = state.Counter($"adam/step/{Groups[g].Name}");
        var uploads = _moments.SelectMany(pair => new[]
        {
            state.Upload($"adam/m/{pair.Key}", pair.Value.First),
            state.Upload($"adam/v/{pair.Key}", pair.Value.Second),
        }).ToList();
        uploads.ForEach(upload => upload());
        Iteration = iteration;
        steps.CopyTo(_groupSteps, 0);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (var (first, second) in _moments.Values)
        {
            first.Dispose();
            second.Dispose();
        }
    }
}
