namespace LZN.Native.Optim;

/// <summary>
/// Adam hyper-parameters of one parameter group (e.g. encoder, decoder, label anchors).
/// <see cref="FrozenAfter"/> = N: the group takes updates on optimiser iterations 0..N-1 and none after.
/// </summary>
public sealed record ParameterGroupOptions
{
    public required double LearningRate { get; init; }
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; }

    /// <summary>True (default): AdamW, decay shrinks the value; false: Adam, decay is added to the gradient.</summary>
    public bool DecoupledWeightDecay { get; init; } = true;

    /// <summary>Iterations after which the group is frozen, or null to train it throughout.</summary>
    public long? FrozenAfter { get; init; }
}

/// <summary>A named set of parameters sharing <see cref="ParameterGroupOptions"/>.</summary>
public sealed class ParameterGroup
{
    public ParameterGroup(string name, IReadOnlyList<ITrainableParameter> parameters, ParameterGroupOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.LearningRate >= 0) || !(options.Epsilon > 0) || !(options.WeightDecay >= 0)
            || !(options.Beta1 is >= 0 and < 1) || !(options.Beta2 is >= 0 and < 1) || options.FrozenAfter < 0)
        {
            throw new ArgumentException($"parameter group '{name}' has invalid options: {options}.", nameof(options));
        }
        foreach (var parameter in parameters)
        {
            if (parameter.Value.Length != parameter.Grad.Length)
            {
                throw new ArgumentException(
                    $"parameter '{parameter.Name}' has {parameter.Value.Length} values but {parameter.Grad.Length} gradients.", nameof(parameters));
            }
        }
        Name = name;
        Parameters = parameters;
        Options = options;
    }

    public string Name { get; }

    public IReadOnlyList<ITrainableParameter> Parameters { get; }

    public ParameterGroupOptions Options { get; }
}
