using System.CommandLine;
using System.Globalization;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Evaluation;
using Spectre.Console;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot ablation CLEAN_FOLDER --holdout NAME [--arch nafnet] [--config BACKBONE.json] [--rec REC.json]
/// [--steps 200] [--seeds 1 2 3] [--csv results.csv]</c>: the paper's REC plug-in experiment (Table XI) at a small
/// scale — the backbone alone vs the backbone + REC, same data, steps and seeds, scored per degradation on held-out
/// photos (<see cref="RecAblation"/>). Prints mean ± std PSNR per task and writes every run to a CSV.
/// </summary>
public sealed class AblationCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var clean = new Argument<string>("clean") { Description = "Folder of clean photos." };
        var holdout = new Option<string[]>("--holdout") { Description = "File names in the folder kept out of training and used for scoring.", Required = true, AllowMultipleArgumentsPerToken = true };
        var arch = new Option<string>("--arch", "-a") { Description = "Backbone: restormer, nafnet or mprnet (REC variant: ARCH-rec).", DefaultValueFactory = _ => "nafnet" };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file of the backbone's constructor arguments (default: a 16-wide NAFNet, one block per level)." };
        var rec = new Option<string?>("--rec") { Description = "JSON file of the rec object: REGM size, injector (default: REGM width 8, one block per level)." };
        var tasks = new Option<string[]>("--tasks") { Description = "Degradations (default: denoise_25 derain dehaze deblur lowlight).", AllowMultipleArgumentsPerToken = true };
        var seeds = new Option<long[]>("--seeds") { Description = "Seeds (default: 1 2 3).", AllowMultipleArgumentsPerToken = true };
        var steps = new Option<int>("--steps") { Description = "Training steps per run.", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch") { Description = "Patches per step.", DefaultValueFactory = _ => 4 };
        var patch = new Option<int>("--patch") { Description = "Patch size (at least 32).", DefaultValueFactory = _ => 64 };
        var csv = new Option<string?>("--csv") { Description = "Where to write every run's results (variant, seed, task, PSNR, seconds)." };
        var command = new Command("ablation", "Backbone alone vs backbone + REC: same data, steps and seeds; mean ± std held-out PSNR per degradation.");
        command.Arguments.Add(clean);
        foreach (var option in new Option[] { holdout, arch, config, rec, tasks, seeds, steps, batch, patch, csv }) command.Options.Add(option);
        command.SetAction((r, cancellationToken) => CliOutput.RunAsync("ablation", () => Run(r.GetValue(clean)!, r.GetValue(holdout)!, r.GetValue(arch)!,
            r.GetValue(config), r.GetValue(rec), r.GetValue(tasks), r.GetValue(seeds), r.GetValue(steps), r.GetValue(batch), r.GetValue(patch), r.GetValue(csv),
            cancellationToken)));
        return command;
    }

    private static int Run(string clean, string[] holdout, string arch, string? configPath, string? recPath, string[]? tasks, long[]? seeds,
        int steps, int batch, int patch, string? csv, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(clean)) return Fail($"folder '{clean}' does not exist.");
        if (arch is not ("restormer" or "nafnet" or "mprnet")) return Fail($"--arch must be restormer, nafnet or mprnet, got '{arch}'.");
        if (steps < 1 || batch < 1) return Fail("--steps and --batch must be at least 1.");
        if (patch < 32) return Fail($"--patch must be at least 32 (the critic's minimum), got {patch}.");
        foreach (var path in new[] { configPath, recPath })
            if (path is not null && !File.Exists(path)) return Fail($"file '{path}' does not exist.");
        if (csv is not null) OutputPaths.EnsureWritableFile(csv);
        var files = ImageFiles.List(clean);
        var missing = holdout.Where(h => !files.Any(f => Path.GetFileName(f) == h)).ToArray();
        if (missing.Length > 0) return Fail($"held-out photo(s) {string.Join(", ", missing)} are not in '{clean}'.");
        var readable = files.Where(f => Readable(f)).ToList();
        var training = readable.Where(f => !holdout.Contains(Path.GetFileName(f))).ToList();
        var heldOut = readable.Where(f => holdout.Contains(Path.GetFileName(f))).ToList();
        if (training.Count == 0) return Fail($"no readable training photos in '{clean}' besides the held-out ones.");

        var defaults = new RecAblationOptions();
        var options = defaults with
        {
            Arch = arch,
            BackboneConfig = configPath is null ? (arch == "nafnet" ? defaults.BackboneConfig : "{}") : File.ReadAllText(configPath),
            RecConfig = recPath is null ? defaults.RecConfig : File.ReadAllText(recPath),
            Tasks = tasks is { Length: > 0 } ? tasks : defaults.Tasks,
            Seeds = seeds is { Length: > 0 } ? seeds : defaults.Seeds,
            Steps = steps,
            BatchSize = batch,
            PatchSize = patch,
        };
        Console.Error.WriteLine($"training on {training.Count} photos, scoring on {string.Join(", ", heldOut.Select(Path.GetFileName))}; " +
                                $"{options.Seeds.Count} seeds × 2 variants × {steps} steps");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var results = RecAblation.Run(options, training, heldOut, new SyncProgress<string>(line => Console.Error.WriteLine(line)), cancellationToken);
        if (csv is not null) AtomicFile.Write(csv, s =>
        {
            using var writer = new StreamWriter(s, leaveOpen: true);
            writer.Write(RecAblation.ToCsv(results));
        });
        Console.Out.Write(Table(RecAblation.Summarize(results), options));
        Console.Out.WriteLine($"{results.Count / options.Tasks.Count} runs in {watch.Elapsed.TotalMinutes.ToString("F1", CultureInfo.InvariantCulture)} min" +
                              (csv is null ? "" : $"; every run in {csv}"));
        return 0;
    }

    private static bool Readable(string file)
    {
        try
        {
            DaRcot.Rec.Imaging.ImageTensor.Identify(file);
            return true;
        }
        catch (DaRcotException e)
        {
            CliOutput.Warn("ablation", $"skipped {file}: {e.Message}");
            return false;
        }
    }

    private static string Table(IReadOnlyList<(string Variant, string Task, double Mean, double Std, int Runs)> summary, RecAblationOptions options)
    {
        var table = new Table().Title($"held-out PSNR (dB), mean ± std over {options.Seeds.Count} seeds: {options.Arch} vs {options.Arch} + REC")
            .AddColumn("task").AddColumn(new TableColumn("backbone").RightAligned()).AddColumn(new TableColumn("backbone + REC").RightAligned())
            .AddColumn(new TableColumn("Δ").RightAligned());
        foreach (var task in options.Tasks)
        {
            var b = summary.Single(s => s.Variant == RecAblation.Variants[0] && s.Task == task);
            var r = summary.Single(s => s.Variant == RecAblation.Variants[1] && s.Task == task);
            table.AddRow(task, $"{F(b.Mean)} ± {F(b.Std)}", $"{F(r.Mean)} ± {F(r.Std)}", $"{(r.Mean >= b.Mean ? "+" : "")}{F(r.Mean - b.Mean)}");
        }
        return CliTables.Render(table, width: 110);
    }

    private static string F(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    private static int Fail(string message) => CliOutput.Fail("ablation", message);
}
