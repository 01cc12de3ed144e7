using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// Several degradations applied in order with one generator (e.g. blur then noise, haze then rain), the mixed
/// degradations of the paper's real-world experiments. Its task id defaults to 7 (other): a composite is not one of
/// the official single-degradation tasks.
/// </summary>
public sealed class CompositeDegradation : IDegradation
{
    /// <summary>Creates the composite.</summary>
    /// <param name="name">Task name, e.g. <c>blur+noise</c>.</param>
    /// <param name="steps">Degradations in the order they are applied (at least one).</param>
    /// <param name="taskId">Task id (default 7).</param>
    public CompositeDegradation(string name, IReadOnlyList<IDegradation> steps, int taskId = DegradationRegistry.SingleTaskId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0) throw new ArgumentException("a composite needs at least one step.", nameof(steps));
        Name = name;
        Steps = steps.ToArray();
        TaskId = taskId;
    }

    /// <summary>The steps, in order.</summary>
    public IReadOnlyList<IDegradation> Steps { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public int TaskId { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor clean, torch.Generator generator)
    {
        DegradationRandom.CheckImages(clean);
        ArgumentNullException.ThrowIfNull(generator);
        using var scope = torch.NewDisposeScope();
        var x = clean;
        foreach (var step in Steps) x = step.Apply(x, generator);
        return (ReferenceEquals(x, clean) ? x.clone() : x).MoveToOuterDisposeScope();
    }
}
