namespace DaRcot.Rec.Evaluation;

/// <summary>Metrics of one restored test image.</summary>
/// <param name="Name">The image's file name.</param>
/// <param name="Psnr">RGB PSNR in dB (capped, see <see cref="EvaluationOptions.PsnrCapDb"/>).</param>
/// <param name="Ssim">RGB SSIM (channel mean).</param>
/// <param name="PsnrY">Y-channel PSNR in dB (NaN when not computed).</param>
/// <param name="SsimY">Y-channel SSIM (NaN when not computed).</param>
/// <param name="Milliseconds">Wall time of the restore call (padding and cropping included, decoding and metrics excluded).</param>
/// <param name="Height">Evaluated height.</param>
/// <param name="Width">Evaluated width.</param>
public sealed record ImageResult(string Name, double Psnr, double Ssim, double PsnrY, double SsimY, double Milliseconds, long Height, long Width);

/// <summary>The results of one test set (one column of the paper's tables).</summary>
/// <param name="Name">Set name, e.g. <c>Rain100L</c>.</param>
/// <param name="Task">Task name.</param>
/// <param name="TaskId">Official task id.</param>
/// <param name="Images">Per-image results.</param>
/// <param name="Skipped">Images not evaluated, with the reason (input and target sizes differ, as the official tester skips them).</param>
public sealed record SetResult(string Name, string Task, int TaskId, IReadOnlyList<ImageResult> Images, IReadOnlyList<string> Skipped)
{
    /// <summary>Images that could not be evaluated (unreadable, NaN output, ...), each "name: reason"; the set's
    /// means leave them out. See <see cref="EvaluationOptions.FailFast"/>.</summary>
    public IReadOnlyList<string> Failed { get; init; } = [];

    /// <summary>Mean RGB PSNR over the images.</summary>
    public double Psnr => Mean(i => i.Psnr);

    /// <summary>Mean RGB SSIM.</summary>
    public double Ssim => Mean(i => i.Ssim);

    /// <summary>Mean Y PSNR.</summary>
    public double PsnrY => Mean(i => i.PsnrY);

    /// <summary>Mean Y SSIM.</summary>
    public double SsimY => Mean(i => i.SsimY);

    /// <summary>Mean restore time per image in milliseconds.</summary>
    public double Milliseconds => Mean(i => i.Milliseconds);

    private double Mean(Func<ImageResult, double> f) => Images.Count == 0 ? double.NaN : Images.Average(f);
}

/// <summary>A whole evaluation: one row of the paper's Tables I/II.</summary>
/// <param name="Method">The method/model name shown in the table.</param>
/// <param name="Sets">Per-set results, in column order.</param>
public sealed record EvaluationReport(string Method, IReadOnlyList<SetResult> Sets)
{
    /// <summary>Why the evaluation stopped before the end (cancelled, or the first failure with
    /// <see cref="EvaluationOptions.FailFast"/>); null for a complete run. The sets then hold what was done.</summary>
    public string? StoppedBecause { get; init; }

    /// <summary>The "Average" column: the mean of the set means (sets without images are left out).</summary>
    public double AveragePsnr => Average(s => s.Psnr);

    /// <summary>Average of the set SSIMs.</summary>
    public double AverageSsim => Average(s => s.Ssim);

    /// <summary>Average of the set Y PSNRs.</summary>
    public double AveragePsnrY => Average(s => s.PsnrY);

    /// <summary>Average of the set Y SSIMs.</summary>
    public double AverageSsimY => Average(s => s.SsimY);

    private double Average(Func<SetResult, double> f)
    {
        var sets = Sets.Where(s => s.Images.Count > 0).ToArray();
        return sets.Length == 0 ? double.NaN : sets.Average(f);
    }
}

/// <summary>Progress of <see cref="EvaluationRunner.Run"/>.</summary>
/// <param name="Set">The set being evaluated.</param>
/// <param name="Done">Images finished in this set.</param>
/// <param name="Total">Images in this set.</param>
/// <param name="Current">The image just finished.</param>
public readonly record struct EvaluationProgress(string Set, int Done, int Total, string Current);

/// <summary>What an interrupted evaluation had done: <see cref="EvaluationCanceledException"/> and
/// <see cref="EvaluationFailedException"/> carry it, so a caller can still write the results it has.</summary>
public interface IPartialEvaluation
{
    /// <summary>The sets evaluated so far (the current one with its images so far), with
    /// <see cref="EvaluationReport.StoppedBecause"/> set.</summary>
    EvaluationReport Partial { get; }
}

/// <summary>The evaluation was cancelled; <see cref="Partial"/> holds the results so far.</summary>
public sealed class EvaluationCanceledException(EvaluationReport partial, CancellationToken token)
    : OperationCanceledException("The evaluation was cancelled.", token), IPartialEvaluation
{
    /// <inheritdoc />
    public EvaluationReport Partial { get; } = partial;
}

/// <summary>An image failed with <see cref="EvaluationOptions.FailFast"/>; <see cref="Partial"/> holds the results so
/// far and the inner exception the failure.</summary>
public sealed class EvaluationFailedException(EvaluationReport partial, Exception cause)
    : Errors.DaRcotException(cause.Message, cause), IPartialEvaluation
{
    /// <inheritdoc />
    public EvaluationReport Partial { get; } = partial;
}
