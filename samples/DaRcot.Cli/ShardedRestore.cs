using DaRcot.Rec.Inference;
using DaRcot.Rec.Inference.Sharding;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace DaRcot.Cli;

/// <summary>
/// <c>darcot restore</c> over a manifest, or over a folder as shard K of N: every process plans the whole job by file
/// size and restores its own part into OUTPUT (same relative paths, <c>.png</c>), skipping outputs that already exist
/// (complete: they are written atomically), and writes <c>OUTPUT/reports/shard-K-of-N.json</c>. Exit code 2 when
/// some inputs failed (each listed on stderr).
/// </summary>
public static class ShardedRestore
{
    /// <summary>The report folder under the output folder.</summary>
    public const string ReportFolder = "reports";

    /// <summary>The shard from <c>--shard K/N</c>, else from the scheduler's environment, else null.</summary>
    public static (ShardSpec Spec, string Source)? Resolve(string? option) =>
        option is not null ? (ShardSpec.Parse(option), "--shard") : ShardSpec.FromEnvironment();

    /// <summary>Why OUTPUT cannot take a sharded restoration, or null (it must be a writable folder that is not
    /// the manifest's or input folder).</summary>
    public static string? CheckOutput(string? manifest, string? inputFolder, string output)
    {
        if (manifest is not null && !File.Exists(manifest)) return $"manifest '{manifest}' does not exist.";
        if (File.Exists(output)) return $"with a manifest or a shard the output '{output}' must be a folder.";
        var root = manifest is not null ? InputManifest.Root(manifest) : inputFolder!;
        // An existing output is taken as complete, so an input written over itself would be "done" untouched.
        if (OutputPaths.Same(root, output))
            return $"the output folder '{output}' is the {(manifest is not null ? "manifest's" : "input")} folder; restored images would replace the inputs. Choose another folder.";
        OutputPaths.EnsureWritableFolder(output);
        return null;
    }

    /// <summary>Restores shard <paramref name="spec"/>; <paramref name="load"/> is called only when work is left.</summary>
    public static int Run(string? manifest, string? inputFolder, string output, ShardSpec spec, string source, Func<Restorer> load,
        ILogger logger, bool failFast, CancellationToken cancellationToken)
    {
        var root = manifest is not null ? InputManifest.Root(manifest) : Path.GetFullPath(inputFolder!);
        var jobs = manifest is not null ? ShardJob.ForManifest(InputManifest.Read(manifest), output) : ShardJob.ForFolder(inputFolder!, output);
        if (jobs.Count == 0) return CliOutput.Fail("restore", $"no PNG, JPEG or BMP images in '{inputFolder}'.");
        var reportPath = Path.Combine(output, ReportFolder, ShardReport.FileName(spec));
        if (spec.Count > 1) Console.Error.WriteLine($"darcot restore: shard {spec} of {jobs.Count} images (from {source})");

        ShardReport report;
        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            report = null!;
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask($"shard {spec}");
                report = ShardedRestoration.Run(jobs, spec, load, reportPath, root,
                    new SyncProgress<FileProgress>(p => { task.MaxValue = p.Total; task.Value = p.Done; }), logger, cancellationToken, failFast);
                task.Value = task.MaxValue;
            });
        }
        else
        {
            report = ShardedRestoration.Run(jobs, spec, load, reportPath, root,
                new SyncProgress<FileProgress>(p => Console.Out.WriteLine($"[{p.Done}/{p.Total}] {p.Current}")), logger, cancellationToken, failFast);
        }
        foreach (var f in report.Failed) Console.Error.WriteLine($"darcot restore: failed {f.Input}: {f.Reason.ReplaceLineEndings(" ")}");
        Console.Out.WriteLine($"shard {spec}: restored {report.Done}, already complete {report.Skipped}, failed {report.Failed.Count} of {report.Count} images -> {output} " +
                              $"({report.Seconds:0.0} s, {report.ImagesPerSecond:0.00} images/s; report {reportPath})");
        return report.Failed.Count > 0 ? CliOutput.PartialFailure : 0;
    }
}
