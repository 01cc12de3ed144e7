using System.Globalization;
using System.Text;

namespace DaRcot.Rec.Evaluation;

/// <summary>
/// Writes an <see cref="EvaluationReport"/> in the layout of the paper's Tables I/II (one row per method, one column
/// per test set with "PSNR/SSIM", then "Average") as Markdown and CSV.
/// </summary>
/// <remarks>
/// Numbers use the invariant culture: PSNR with 2 decimals, SSIM with 4. A PSNR of +∞ (only when
/// <see cref="EvaluationOptions.PsnrCapDb"/> is null) is written as <c>inf</c>; a missing value (no images, no Y
/// channel) as <c>-</c> in Markdown and empty in CSV.
/// </remarks>
public static class ReportWriter
{
    /// <summary>The Markdown report: the RGB table, the Y table, and a per-set table with image counts and timing.</summary>
    public static string ToMarkdown(EvaluationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        if (report.StoppedBecause is { } stopped)
            sb.AppendLine($"**Partial results**: the evaluation stopped early ({stopped}); the last set may be incomplete.").AppendLine();
        var header = "| Method | " + string.Join(" | ", report.Sets.Select(s => s.Name)) + " | Average |";
        var rule = "|---|" + string.Concat(report.Sets.Select(_ => "---|")) + "---|";
        sb.AppendLine("PSNR (dB) / SSIM, RGB, data range 1, 8-bit outputs").AppendLine();
        sb.AppendLine(header).AppendLine(rule);
        sb.Append("| ").Append(report.Method).Append(" | ")
          .Append(string.Join(" | ", report.Sets.Select(s => Pair(s.Psnr, s.Ssim))))
          .Append(" | ").Append(Pair(report.AveragePsnr, report.AverageSsim)).AppendLine(" |");
        if (report.Sets.Any(s => !double.IsNaN(s.PsnrY)))
        {
            sb.AppendLine().AppendLine("PSNR (dB) / SSIM, Y channel (BT.601)").AppendLine();
            sb.AppendLine(header).AppendLine(rule);
            sb.Append("| ").Append(report.Method).Append(" | ")
              .Append(string.Join(" | ", report.Sets.Select(s => Pair(s.PsnrY, s.SsimY))))
              .Append(" | ").Append(Pair(report.AveragePsnrY, report.AverageSsimY)).AppendLine(" |");
        }
        sb.AppendLine().AppendLine("| Set | Task | Images | PSNR | SSIM | PSNR-Y | SSIM-Y | ms/image | Skipped |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var s in report.Sets)
            sb.AppendLine($"| {s.Name} | {s.Task} | {s.Images.Count} | {P(s.Psnr)} | {S(s.Ssim)} | {P(s.PsnrY)} | {S(s.SsimY)} | {Ms(s.Milliseconds)} | {s.Skipped.Count + s.Failed.Count} |");
        var notEvaluated = report.Sets.SelectMany(s => s.Skipped.Concat(s.Failed).Select(reason => $"- {s.Name}: {reason}")).ToList();
        if (notEvaluated.Count > 0)
        {
            sb.AppendLine().AppendLine("Images not evaluated:").AppendLine();
            foreach (var line in notEvaluated) sb.AppendLine(line);
        }
        return sb.ToString();

        static string Pair(double psnr, double ssim) => $"{P(psnr)}/{S(ssim)}";
    }

    /// <summary>
    /// The CSV report: header <c>method,set,task,task_id,images,psnr,ssim,psnr_y,ssim_y,ms_per_image</c>, one row per
    /// set and a final <c>Average</c> row (task <c>all</c>, task_id empty, images = total).
    /// </summary>
    public static string ToCsv(EvaluationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.AppendLine("method,set,task,task_id,images,psnr,ssim,psnr_y,ssim_y,ms_per_image");
        foreach (var s in report.Sets)
            sb.AppendLine(string.Join(",", Csv(report.Method), Csv(s.Name), Csv(s.Task), s.TaskId.ToString(CultureInfo.InvariantCulture),
                s.Images.Count.ToString(CultureInfo.InvariantCulture), C(s.Psnr, 4), C(s.Ssim, 6), C(s.PsnrY, 4), C(s.SsimY, 6), C(s.Milliseconds, 2)));
        var timed = report.Sets.Where(s => s.Images.Count > 0).ToArray();
        sb.AppendLine(string.Join(",", Csv(report.Method), "Average", "all", "", report.Sets.Sum(s => s.Images.Count).ToString(CultureInfo.InvariantCulture),
            C(report.AveragePsnr, 4), C(report.AverageSsim, 6), C(report.AveragePsnrY, 4), C(report.AverageSsimY, 6),
            C(timed.Length == 0 ? double.NaN : timed.Average(s => s.Milliseconds), 2)));
        return sb.ToString();
    }

    /// <summary>Per-image CSV: <c>set,image,psnr,ssim,psnr_y,ssim_y,ms,height,width</c>.</summary>
    public static string ToPerImageCsv(EvaluationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sb = new StringBuilder();
        sb.AppendLine("set,image,psnr,ssim,psnr_y,ssim_y,ms,height,width");
        foreach (var s in report.Sets)
        foreach (var i in s.Images)
            sb.AppendLine(string.Join(",", Csv(s.Name), Csv(i.Name), C(i.Psnr, 4), C(i.Ssim, 6), C(i.PsnrY, 4), C(i.SsimY, 6), C(i.Milliseconds, 2),
                i.Height.ToString(CultureInfo.InvariantCulture), i.Width.ToString(CultureInfo.InvariantCulture)));
        return sb.ToString();
    }

    /// <summary>Writes <see cref="ToMarkdown"/> to <paramref name="path"/> and <see cref="ToCsv"/> next to it (same
    /// name, <c>.csv</c>), plus the per-image CSV (<c>.images.csv</c>).</summary>
    /// <returns>The paths written.</returns>
    public static IReadOnlyList<string> Write(EvaluationReport report, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var stem = Path.Combine(dir ?? "", Path.GetFileNameWithoutExtension(path));
        var md = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? stem + ".md" : path;
        var csv = stem + ".csv";
        var images = stem + ".images.csv";
        // Each file is replaced atomically, so a crash never leaves a half-written report next to an old one.
        WriteText(md, ToMarkdown(report));
        WriteText(csv, ToCsv(report));
        WriteText(images, ToPerImageCsv(report));
        return new[] { md, csv, images };
    }

    private static void WriteText(string path, string text) =>
        DaRcot.Rec.Checkpoints.AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), leaveOpen: true);
            writer.Write(text);
        });

    private static string P(double v) => Format(v, 2, "-");
    private static string S(double v) => Format(v, 4, "-");
    private static string C(double v, int decimals) => Format(v, decimals, "");
    private static string Ms(double v) => Format(v, 1, "-");

    private static string Format(double v, int decimals, string missing) =>
        double.IsNaN(v) ? missing : double.IsPositiveInfinity(v) ? "inf" : v.ToString("F" + decimals, CultureInfo.InvariantCulture);

    private static string Csv(string s) => s.IndexOfAny(new[] { ',', '"', '\n' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
