using System.CommandLine;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot degrade CLEAN_FOLDER -o TEST_ROOT [--tasks derain dehaze denoise deblur lowlight] [--seed 1]</c>: writes
/// the clean photos, degraded synthetically, in the official test layout that <c>darcot eval</c> reads
/// (<see cref="SyntheticTestSetWriter"/>). Unreadable photos are skipped and listed (exit code 2).
/// </summary>
public sealed class DegradeCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var clean = new Argument<string>("clean") { Description = "Folder of clean photos (PNG, JPEG, BMP)." };
        var output = new Option<string>("--output", "-o") { Description = "Test root to write (e.g. data/Test).", Required = true };
        var tasks = new Option<string[]>("--tasks") { Description = "Layout tasks: derain, dehaze, denoise, deblur, lowlight (default: all).", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<long>("--seed") { Description = "Photo N is degraded with seed + N.", DefaultValueFactory = _ => 1 };
        var command = new Command("degrade", "Write clean photos, synthetically degraded, in the official test layout (for darcot eval).");
        command.Arguments.Add(clean);
        foreach (var option in new Option[] { output, tasks, seed }) command.Options.Add(option);
        command.SetAction((r, cancellationToken) => CliOutput.RunAsync("degrade", () =>
            Run(r.GetValue(clean)!, r.GetValue(output)!, r.GetValue(tasks), r.GetValue(seed), cancellationToken)));
        return command;
    }

    private static int Run(string clean, string output, string[]? tasks, long seed, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(clean)) return Fail($"folder '{clean}' does not exist.");
        if (OutputPaths.Same(clean, output)) return Fail($"the output '{output}' is the input folder; choose another folder.");
        if (tasks is { Length: > 0 })
            foreach (var t in tasks)
                if (!SyntheticTestSetWriter.Generators.ContainsKey(t))
                    return Fail($"unknown task '{t}'. Known: {string.Join(", ", SyntheticTestSetWriter.Generators.Keys)}.");
        OutputPaths.EnsureWritableFolder(output);

        var readable = new List<string>();
        var skipped = new List<string>();
        foreach (var file in ImageFiles.List(clean))
        {
            try
            {
                ImageTensor.Identify(file);
                readable.Add(file);
            }
            catch (DaRcotException e)
            {
                skipped.Add($"{file}: {e.Message}");
            }
        }
        if (readable.Count == 0) return Fail($"no readable PNG, JPEG or BMP photos in '{clean}'.");

        var written = SyntheticTestSetWriter.Write(readable, output, tasks is { Length: > 0 } ? tasks : null, seed,
            new SyncProgress<int>(n => Console.Error.WriteLine($"[{n}/{readable.Count}]")), cancellationToken);
        foreach (var (index, source) in written) Console.Out.WriteLine($"{index}: {Path.GetFileName(source)}");
        foreach (var s in skipped) Console.Error.WriteLine($"darcot degrade: skipped {s}");
        Console.Out.WriteLine($"wrote {written.Count} photos × {(tasks is { Length: > 0 } ? tasks.Length : SyntheticTestSetWriter.Generators.Count)} tasks under {output}" +
                              (skipped.Count > 0 ? $"; {skipped.Count} skipped (listed on stderr)" : ""));
        return skipped.Count > 0 ? CliOutput.PartialFailure : 0;
    }

    private static int Fail(string message) => CliOutput.Fail("degrade", message);
}
