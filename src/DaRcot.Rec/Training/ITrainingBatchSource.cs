using static TorchSharp.torch;

namespace DaRcot.Rec.Training;

/// <summary>
/// One training batch: degraded inputs x, clean targets y and one task (degradation) id per sample, using the
/// official labels (denoise_15 = 0, denoise_25 = 1, denoise_50 = 2, derain = 3, dehaze = 4, deblur = 5,
/// lowlight = 6). The trainer owns the batch after receiving it and disposes it after the step.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    /// <summary>Creates a batch; shapes are checked by the trainer.</summary>
    /// <param name="degraded">Degraded images, [B,C,H,W] float32 in [0,1].</param>
    /// <param name="target">Clean images, same shape as <paramref name="degraded"/>.</param>
    /// <param name="taskIds">One task id per sample (length B).</param>
    public TrainingBatch(Tensor degraded, Tensor target, long[] taskIds)
    {
        Degraded = degraded;
        Target = target;
        TaskIds = taskIds;
    }

    /// <summary>Degraded images x, [B,C,H,W].</summary>
    public Tensor Degraded { get; }

    /// <summary>Clean images y, [B,C,H,W].</summary>
    public Tensor Target { get; }

    /// <summary>Task id per sample (official labels).</summary>
    public long[] TaskIds { get; }

    /// <summary>Number of samples.</summary>
    public int Count => TaskIds.Length;

    /// <summary>In data-parallel training, the index of this batch's first row in the global batch (0 otherwise).</summary>
    public int GlobalOffset { get; init; }

    /// <summary>In data-parallel training, the size of the global batch that this batch is one rank's share of;
    /// otherwise (0, the default) <see cref="Count"/>.</summary>
    public int GlobalCount
    {
        get => globalCount == 0 ? Count : globalCount;
        init => globalCount = value;
    }

    private readonly int globalCount;

    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Degraded.Dispose();
        Target.Dispose();
    }
}

/// <summary>
/// Where the trainer gets its batches. Kept minimal on purpose so any dataset can adapt to it.
/// </summary>
/// <remarks>
/// Exact resume needs determinism: for a given <c>epoch</c> the source must produce the same batches in the same
/// order (seed shuffling, crops, augmentation and synthetic noise from the epoch number and the batch/sample index,
/// not from a global random stream), and <c>startBatch</c> must yield exactly the tail of that sequence.
/// </remarks>
public interface ITrainingBatchSource
{
    /// <summary>Number of batches in one epoch (the last one may be smaller than the batch size).</summary>
    int BatchesPerEpoch { get; }

    /// <summary>Enumerates the batches of <paramref name="epoch"/> (1-based, as the official trainer counts),
    /// starting at batch index <paramref name="startBatch"/> (0-based).</summary>
    IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0);

    /// <summary>True when the source already gives each input a target from a different image (really unpaired
    /// data, e.g. <c>StreamingBatchOptions.Unpaired</c>). Default false: targets are the inputs' own clean images.</summary>
    /// <remarks>
    /// The trainer needs to know: its paired modes compare the restored image with the target pixel by pixel (L1,
    /// weighted 10⁴) and contrast it with the target's features, which is meaningless against an unrelated image, so
    /// it refuses that combination; and <see cref="PairingMode.Unpaired"/> then uses the targets as they come instead
    /// of decorrelating them a second time.
    /// </remarks>
    bool TargetsDecorrelated => false;
}
