using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Metrics;
using DaRcot.Rec.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Evaluation;

/// <summary>One degradation of a <see cref="DegradationShowcase"/>: PSNR/SSIM of the degraded and of the restored image
/// against the clean one (RGB, data range 1, scikit-image's SSIM defaults, both quantised to 8 bit as saved PNGs).</summary>
/// <param name="Task">The degradation's registry name (e.g. <c>denoise_25</c>).</param>
/// <param name="DegradedPsnr">PSNR of the degraded image, dB.</param>
/// <param name="DegradedSsim">SSIM of the degraded image.</param>
/// <param name="RestoredPsnr">PSNR of the restored image, dB.</param>
/// <param name="RestoredSsim">SSIM of the restored image.</param>
public sealed record ShowcaseRow(string Task, double DegradedPsnr, double DegradedSsim, double RestoredPsnr, double RestoredSsim)
{
    /// <summary>Restored minus degraded PSNR, dB.</summary>
    public double PsnrGain => RestoredPsnr - DegradedPsnr;
}

/// <summary>What <see cref="DegradationShowcase.Run"/> measured, and the picture: one row per degradation,
/// degraded | restored | clean, separated by white lines. Dispose to free the picture.</summary>
public sealed class ShowcaseResult : IDisposable
{
    internal ShowcaseResult(IReadOnlyList<ShowcaseRow> rows, Tensor grid)
    {
        Rows = rows;
        Grid = grid;
    }

    /// <summary>One row per degradation, in the order asked for.</summary>
    public IReadOnlyList<ShowcaseRow> Rows { get; }

    /// <summary>The grid image, [1, C, rows·(H+gap) − gap, 3·(W+gap) − gap], values in [0, 1].</summary>
    public Tensor Grid { get; }

    /// <inheritdoc />
    public void Dispose() => Grid.Dispose();
}

/// <summary>
/// The all-in-one demonstration: degrade one clean photo with each synthetic degradation, restore each with the same
/// model, and measure before and after. Used by <c>darcot demo</c>; deterministic for a given seed.
/// </summary>
public static class DegradationShowcase
{
    /// <summary>The five degradations of the paper's all-in-one setting, one representative each.</summary>
    public static IReadOnlyList<string> DefaultTasks { get; } = new[] { "denoise_25", "derain", "dehaze", "deblur", "lowlight" };

    private const int Gap = 4;

    /// <summary>Runs the showcase.</summary>
    /// <param name="restorer">The model (any architecture; its padding and tiling apply).</param>
    /// <param name="clean">The clean photo, [1, 3, H, W] in [0, 1].</param>
    /// <param name="tasks">Degradation names (<see cref="DegradationRegistry"/>); default <see cref="DefaultTasks"/>.</param>
    /// <param name="seed">Seed of every degradation's random draws (the same for each task).</param>
    /// <param name="progress">Reports (tasks done, total, the task just finished).</param>
    /// <param name="cancellationToken">Checked between tasks.</param>
    public static ShowcaseResult Run(Restorer restorer, Tensor clean, IReadOnlyList<string>? tasks = null, long seed = 2026,
        IProgress<(int Done, int Total, string Task)>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(restorer);
        ArgumentNullException.ThrowIfNull(clean);
        tasks ??= DefaultTasks;
        if (tasks.Count == 0) throw new ArgumentException("at least one degradation is needed.", nameof(tasks));
        if (clean.dim() != 4 || clean.shape[0] != 1)
            throw new ArgumentException($"the clean image must be [1, C, H, W]; got [{string.Join(", ", clean.shape)}].", nameof(clean));
        // Fail on an unknown name before any compute.
        var degradations = tasks.Select(DegradationRegistry.Create).ToArray();

        var rows = new List<ShowcaseRow>();
        using var scope = torch.NewDisposeScope();
        var reference = EvaluationRunner.Quantize8(clean.to(float32));
        var gridRows = new List<Tensor>();
        for (var i = 0; i < degradations.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var degraded = EvaluationRunner.Quantize8(degradations[i].Apply(reference, seed));
            Tensor restored;
            using (torch.no_grad()) restored = EvaluationRunner.Quantize8(restorer.Restore(degraded, cancellationToken: cancellationToken).cpu());
            rows.Add(new ShowcaseRow(tasks[i],
                Psnr.Compute(degraded, reference), Ssim.Compute(degraded, reference),
                Psnr.Compute(restored, reference), Ssim.Compute(restored, reference)));
            gridRows.Add(Row(degraded, restored, reference));
            progress?.Report((i + 1, degradations.Length, tasks[i]));
        }
        var grid = JoinWithGap(gridRows, dim: 2);
        return new ShowcaseResult(rows, grid.MoveToOuterDisposeScope());
    }

    private static Tensor Row(Tensor degraded, Tensor restored, Tensor clean) => JoinWithGap(new[] { degraded, restored, clean }, dim: 3);

    /// <summary>Concatenates along <paramref name="dim"/> with white (1.0) strips of <see cref="Gap"/> pixels between.</summary>
    private static Tensor JoinWithGap(IReadOnlyList<Tensor> parts, int dim)
    {
        var shape = parts[0].shape.ToArray();
        shape[dim] = Gap;
        var white = ones(shape, parts[0].dtype);
        var pieces = new List<Tensor>();
        for (var i = 0; i < parts.Count; i++)
        {
            if (i > 0) pieces.Add(white);
            pieces.Add(parts[i]);
        }
        return cat(pieces, dim);
    }
}
