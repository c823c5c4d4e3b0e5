using System.Text.Json;
using System.Text.Json.Serialization;

namespace LZN.Native.Training;

/// <summary>
/// The running sums of the epoch in progress that its line in metrics.jsonl averages: the loss terms summed over the
/// applied steps, in step order, and the applied and skipped steps. <see cref="TrainingLoop.Run"/> keeps them on the
/// trainer and a checkpoint written inside an epoch carries them (<see cref="Checkpoint.EpochSumsKey"/>), so a run
/// resumed there adds the same doubles in the same order and ends the epoch with the uninterrupted run's means.
/// As JSON (<see cref="CheckpointMetadataJsonContext"/>): snake_case keys, every one required, the sums round-trip
/// exact, and a sum that overflowed to infinity written as a string rather than failing the checkpoint.
/// </summary>
public sealed record EpochSums(
    [property: JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)] double RfLoss,
    [property: JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)] double LabelLoss,
    int AppliedSteps,
    int SkippedSteps)
{
    public static EpochSums Zero { get; } = new(0, 0, 0, 0);

    /// <summary>The epoch's steps these sums cover.</summary>
    [JsonIgnore]
    public int Steps => AppliedSteps + SkippedSteps;

    /// <summary>With one more step: a skipped step's loss is not finite, so it is counted but not summed (the mean would be NaN).</summary>
    public EpochSums Add(JointLosses losses, bool applied) => applied
        ? this with { RfLoss = RfLoss + losses.RectifiedFlow, LabelLoss = LabelLoss + losses.Label, AppliedSteps = AppliedSteps + 1 }
        : this with { SkippedSteps = SkippedSteps + 1 };

    /// <summary>The mean loss terms over the applied steps (NaN when none was applied), with the terms' weights.</summary>
    public JointLosses Mean(double rfWeight, double labelWeight) => new(RfLoss / AppliedSteps, LabelLoss / AppliedSteps, rfWeight, labelWeight);

    internal string ToJson() => JsonSerializer.Serialize(this, CheckpointMetadataJsonContext.Default.EpochSums);

    /// <exception cref="JsonException">Not one object with the four fields (or a null).</exception>
    internal static EpochSums FromJson(string json) =>
        JsonSerializer.Deserialize(json, CheckpointMetadataJsonContext.Default.EpochSums) ?? throw new JsonException("null instead of the epoch's sums");
}
