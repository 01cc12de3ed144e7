using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DaRcot.Rec.Inference.Sharding;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot report merge REPORTS... [--manifest FILE] [--json]</c>: combines the shard reports of a sharded
/// <c>darcot restore</c> (files, or folders holding <c>shard-K-of-N.json</c> directly or under <c>reports/</c>),
/// prints the totals, the failed inputs and what no report accounts for: with <c>--manifest</c>, every listed input
/// that no shard restored, skipped or failed; without, shards with no report or a cancelled run. Exit code 2 when
/// anything failed or is missing, 1 on an error, 0 when the job is complete.
/// </summary>
public sealed class ReportCommand : ICliCommand
{
    // Long lists are cut on the terminal; --json has them all.
    private const int ListLimit = 20;

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <inheritdoc />
    public Command Build()
    {
        var reports = new Argument<string[]>("reports") { Description = "Shard report files, or folders holding them (an output folder's reports/ is found).", Arity = ArgumentArity.OneOrMore };
        var manifest = new Option<string?>("--manifest", "-m") { Description = "The manifest of the job: list its inputs that no report accounts for." };
        var json = new Option<bool>("--json") { Description = "Print the merged summary as JSON (every list in full)." };
        var merge = new Command("merge", "Combine the shard reports of a sharded restore: totals, failed inputs, and inputs or shards no report accounts for.");
        merge.Arguments.Add(reports);
        merge.Options.Add(manifest);
        merge.Options.Add(json);
        merge.SetAction((parseResult, _) => CliOutput.RunAsync("report", () => Merge(parseResult.GetValue(reports)!, parseResult.GetValue(manifest), parseResult.GetValue(json))));
        var command = new Command("report", "Work with the reports of sharded restorations.");
        command.Subcommands.Add(merge);
        return command;
    }

    private static int Merge(string[] paths, string? manifest, bool json)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (File.Exists(path)) files.Add(path);
            else if (Directory.Exists(path)) files.AddRange(ReportsIn(path));
            else return CliOutput.Fail("report", $"'{path}' does not exist.");
        }
        if (files.Count == 0) return CliOutput.Fail("report", $"no shard reports (shard-K-of-N.json) in {string.Join(", ", paths.Select(p => $"'{p}'"))}.");
        var keys = manifest is null ? null : InputManifest.Read(manifest).Select(e => e.Key);
        var summary = ShardReportSummary.Merge(files.Distinct().Select(ShardReport.Read).ToList(), keys);

        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(summary, Json));
        }
        else
        {
            var inv = CultureInfo.InvariantCulture;
            Console.Out.WriteLine(string.Create(inv, $"{summary.Reports} reports: {summary.Inputs} inputs, {summary.Done} restored, {summary.Skipped} already complete, {summary.Failed.Count} failed"));
            Console.Out.WriteLine(string.Create(inv, $"time: longest shard {summary.LongestSeconds:0.0} s, all shards {summary.TotalSeconds:0.0} s; {(summary.TotalSeconds > 0 ? summary.Done / summary.TotalSeconds : 0):0.00} images/s per shard"));
            if (summary.ShardCounts.Count > 1) Console.Out.WriteLine($"note: reports of runs with {string.Join(" and ", summary.ShardCounts)} shards");
            List("failed", summary.Failed.Select(f => $"{f.Input}: {f.Reason.ReplaceLineEndings(" ")}").ToList());
            List("missing", summary.Missing);
            List("shards without a report", summary.MissingShards.Select(s => s.ToString()).ToList());
            List("shards that did not finish", summary.Unfinished.Select(s => s.ToString()).ToList());
            Console.Out.WriteLine(summary.Complete ? "complete" : "incomplete");
        }
        return summary.Complete ? 0 : CliOutput.PartialFailure;
    }

    // A folder: its shard reports, or those of its reports/ subfolder (an output folder of darcot restore).
    private static IEnumerable<string> ReportsIn(string folder)
    {
        var here = Directory.GetFiles(folder, "shard-*-of-*.json");
        var sub = Path.Combine(folder, ShardedRestore.ReportFolder);
        return here.Length > 0 || !Directory.Exists(sub) ? here.Order(StringComparer.Ordinal) : Directory.GetFiles(sub, "shard-*-of-*.json").Order(StringComparer.Ordinal);
    }

    private static void List(string title, IReadOnlyList<string> items)
    {
        if (items.Count == 0) return;
        Console.Out.WriteLine($"{title} ({items.Count}):");
        foreach (var item in items.Take(ListLimit)) Console.Out.WriteLine($"  {item}");
        if (items.Count > ListLimit) Console.Out.WriteLine($"  ... and {items.Count - ListLimit} more (--json lists all)");
    }
}
