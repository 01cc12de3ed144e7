namespace DaRcot.Rec.Training;

/// <summary>The losses of one training step, as recorded in the loss history. Values are plain doubles.</summary>
public sealed record StepLosses
{
    /// <summary>1-based global step.</summary>
    public long Step { get; init; }

    /// <summary>1-based epoch.</summary>
    public int Epoch { get; init; }

    /// <summary>0-based iteration within the epoch.</summary>
    public int Iteration { get; init; }

    /// <summary>Whether the transport step used the paired branch.</summary>
    public bool Paired { get; init; }

    /// <summary>Potential W-loss −mean φ(y) + mean φ(ŷ) (last potential iteration; NaN when k = 0).</summary>
    public double PotentialLoss { get; init; } = double.NaN;

    /// <summary>Gradient penalty λ·mean(‖∇φ‖−1)² (last potential iteration; NaN when k = 0).</summary>
    public double GradientPenalty { get; init; } = double.NaN;

    /// <summary>Total transport loss L_T.</summary>
    public double TransportLoss { get; init; }

    /// <summary>mean φ(T(x)) in the transport step.</summary>
    public double PotentialOfRestored { get; init; }

    /// <summary>Batch RMS of the residual (official <c>mse_loss</c>).</summary>
    public double Rms { get; init; }

    /// <summary>Summed Fourier-residual penalty.</summary>
    public double Fourier { get; init; }

    /// <summary>Contrastive loss (0 in unpaired iterations or without an embedding).</summary>
    public double Contrastive { get; init; }

    /// <summary>mean|T(x) − y| (unweighted; NaN in unpaired iterations).</summary>
    public double L1 { get; init; } = double.NaN;
}

/// <summary>Reported after every training step.</summary>
public sealed record TrainingProgress
{
    /// <summary>The step's losses.</summary>
    public required StepLosses Losses { get; init; }

    /// <summary>Total steps planned (epochs × batches per epoch, or max_steps when smaller).</summary>
    public long TotalSteps { get; init; }

    /// <summary>Learning rate of the transport network.</summary>
    public double TransportLearningRate { get; init; }

    /// <summary>Learning rate of the potential.</summary>
    public double PotentialLearningRate { get; init; }

    /// <summary>Throughput of this step (images per second, the whole iteration).</summary>
    public double ImagesPerSecond { get; init; }

    /// <summary>Path of the checkpoint written after this step, if any.</summary>
    public string? CheckpointWritten { get; init; }

    /// <summary>Wall time of the step, in seconds.</summary>
    public double StepSeconds { get; init; }

    /// <summary>Data-parallel training: seconds of the step spent in the gradient exchange (all-reduce calls, the
    /// copies around them, and waiting for the slowest rank); 0 for a single process.</summary>
    public double AllReduceSeconds { get; init; }

    /// <summary>Where the step's time went.</summary>
    public StepPhases Phases { get; init; } = new();
}

/// <summary>
/// Seconds of a training step (or a sum of steps) per phase. Potential: the forward passes of its iterations (T
/// without gradients, φ on both batches, the gradient-penalty interpolation and φ on it), their backward passes (for
/// the penalty a double backward; with data parallelism including the gradient all-reduce) and its optimizer steps.
/// Transport: the forward pass (T twice with REC, φ, the loss terms), the backward pass (with data parallelism the
/// sharded loss and the all-reduce are counted here) and the optimizer step with the gradient finiteness check.
/// On CUDA, phases are timed on the host without synchronising, so they show where the host waited, not the device.
/// </summary>
public sealed record StepPhases(double PotentialForward = 0, double PotentialBackward = 0, double PotentialOptimizer = 0,
    double TransportForward = 0, double TransportBackward = 0, double TransportOptimizer = 0)
{
    /// <summary>All phases together.</summary>
    public double Total => PotentialForward + PotentialBackward + PotentialOptimizer + TransportForward + TransportBackward + TransportOptimizer;

    /// <summary>Phase by phase sum.</summary>
    public StepPhases Plus(StepPhases other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(PotentialForward + other.PotentialForward, PotentialBackward + other.PotentialBackward, PotentialOptimizer + other.PotentialOptimizer,
            TransportForward + other.TransportForward, TransportBackward + other.TransportBackward, TransportOptimizer + other.TransportOptimizer);
    }

    /// <summary>The phases with their names, in step order (for tables and logs).</summary>
    public IReadOnlyList<(string Name, double Seconds)> Named() =>
    [
        ("potential forward", PotentialForward), ("potential backward", PotentialBackward), ("potential optimizer", PotentialOptimizer),
        ("transport forward", TransportForward), ("transport backward", TransportBackward), ("transport optimizer", TransportOptimizer),
    ];
}

/// <summary>Step times summed over the steps run by one trainer (see <see cref="OtTrainer.Timing"/>).</summary>
/// <param name="Steps">Steps run.</param>
/// <param name="StepSeconds">Their total wall time.</param>
/// <param name="AllReduceSeconds">Of which in the data-parallel exchange (0 for a single process).</param>
/// <param name="Images">Images of the global batches trained on.</param>
/// <param name="Phases">The step time split by phase, summed over the steps.</param>
public sealed record StepTiming(long Steps = 0, double StepSeconds = 0, double AllReduceSeconds = 0, long Images = 0, StepPhases? Phases = null)
{
    /// <summary>Global-batch images per second of step time.</summary>
    public double ImagesPerSecond => StepSeconds > 0 ? Images / StepSeconds : 0;

    /// <summary>Fraction of the step time spent in the data-parallel exchange.</summary>
    public double AllReduceShare => StepSeconds > 0 ? AllReduceSeconds / StepSeconds : 0;

    /// <summary>This timing plus one step.</summary>
    public StepTiming Add(double stepSeconds, double allReduceSeconds, int images, StepPhases? phases = null) =>
        new(Steps + 1, StepSeconds + stepSeconds, AllReduceSeconds + allReduceSeconds, Images + images,
            (Phases ?? new StepPhases()).Plus(phases ?? new StepPhases()));
}
