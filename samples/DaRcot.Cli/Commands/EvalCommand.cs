using System.CommandLine;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot eval --data TEST_DIR [(--preset NAME | --arch ARCH [--config JSON]) --weights FILE | --input-baseline] (none: the bundled model)
/// [--tasks derain dehaze ...] -o report.md</c>: restores the official test sets (Rain100L, SOTS, BSD68/Kodak24 at
/// σ 15/25/50, GoPro, LOL as the DA-RCOT README lays them out) and writes the paper-style table as Markdown, CSV and a
/// per-image CSV.
/// </summary>
/// <remarks>
/// Metrics follow the official evaluation: RGB PSNR/SSIM (scikit-image conventions, data range 1) on 8-bit-rounded
/// outputs, plus BT.601 Y variants. Inputs are padded to the model's size multiple and cropped back (no pixel is
/// dropped); <c>--official-crop</c> reproduces the official tester's crop to multiples of 8 instead.
/// <c>--input-baseline</c> scores the degraded inputs themselves (the "Input" row of restoration tables), no model.
/// The report location (and <c>--save-images</c>) is checked for writability before anything runs. An image that
/// cannot be evaluated is skipped with its reason on stderr and in the report (exit code 2; <c>--fail-fast</c> stops
/// instead); a stopped run (Ctrl-C: exit 130, or a fail-fast error) still writes the results it has, marked partial.
/// Every other error is one line on standard error and exit code 1.
/// </remarks>
public sealed class EvalCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var data = new Option<string>("--data") { Description = "The test root (holding derain/, dehaze/, denoise/, deblur/, lowlight/, or a Test/ folder with them).", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Report path (.md); the CSV tables are written next to it.", Required = true };
        var tasks = new Option<string[]>("--tasks", "-t") { Description = "Tasks to evaluate: dehaze, derain, denoise (all σ), denoise_15, denoise_25, denoise_50, deblur, lowlight (default: all found).", AllowMultipleArgumentsPerToken = true };
        var preset = new Option<string?>("--preset", "-p") { Description = $"An official checkpoint preset: {string.Join(", ", Presets.All.Select(p => p.Name))}." };
        var arch = new Option<string?>("--arch", "-a") { Description = $"Architecture when not using a preset: {string.Join(", ", ModelFactory.KnownArchs)}." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file with the official constructor arguments (with --arch)." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Checkpoint: official .pth, .safetensors or TorchSharp file." };
        var containerKey = new Option<string?>("--container-key") { Description = "Key of the state_dict inside the checkpoint (default: detected)." };
        var device = new Option<string>("--device", "-d") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var baseline = new Option<bool>("--input-baseline") { Description = "Score the degraded inputs themselves (no model)." };
        var officialCrop = new Option<bool>("--official-crop") { Description = "Crop to multiples of 8 as the official tester does instead of padding." };
        var noQuantize = new Option<bool>("--no-quantize") { Description = "Score the float outputs (clamped) instead of 8-bit-rounded ones." };
        var saveImages = new Option<string?>("--save-images") { Description = "Folder to save the restored images in (one sub-folder per test set)." };
        var method = new Option<string?>("--method", "-m") { Description = "Method name for the table row (default: the preset, arch or 'Input')." };
        var failFast = new Option<bool>("--fail-fast") { Description = "Stop at the first image that cannot be evaluated (default: skip it, list it, exit 2)." };
        var precision = CliRuntime.PrecisionOption();

        var command = new Command("eval", "Evaluate a model on the official DA-RCOT test sets and write the paper-style PSNR/SSIM table (Markdown + CSV).");
        foreach (var option in new Option[] { data, output, tasks, preset, arch, config, weights, containerKey, device, baseline, officialCrop, noQuantize, saveImages, method, failFast, precision })
            command.Options.Add(option);
        command.SetAction((parseResult, cancellationToken) => CliOutput.RunAsync("eval", () => Run(new Request(
            parseResult.GetValue(data)!, parseResult.GetValue(output)!, parseResult.GetValue(tasks), parseResult.GetValue(preset),
            parseResult.GetValue(arch), parseResult.GetValue(config), parseResult.GetValue(weights), parseResult.GetValue(containerKey),
            parseResult.GetValue(device) ?? "cpu", parseResult.GetValue(baseline), parseResult.GetValue(officialCrop),
            parseResult.GetValue(noQuantize), parseResult.GetValue(saveImages), parseResult.GetValue(method), parseResult.GetValue(failFast), parseResult.GetValue(precision)), cancellationToken)));
        return command;
    }

    private sealed record Request(string Data, string Output, string[]? Tasks, string? Preset, string? Arch, string? ConfigPath,
        string? Weights, string? ContainerKey, string Device, bool Baseline, bool OfficialCrop, bool NoQuantize, string? SaveImages, string? Method, bool FailFast, string? Precision);

    private static int Run(Request r, CancellationToken cancellationToken)
    {
        int models = (r.Preset is null ? 0 : 1) + (r.Arch is null ? 0 : 1) + (r.Baseline ? 1 : 0);
        // None of them (and no --weights): the bundled model, as for restore.
        var bundled = models == 0 && r.Weights is null && r.ConfigPath is null && r.ContainerKey is null;
        if (models != 1 && !bundled) return Fail("give exactly one of --preset NAME, --arch ARCH or --input-baseline (or none of them, and no --weights, for the bundled model).");
        if (!r.Baseline && !bundled && r.Weights is null) return Fail("--weights FILE is required with --preset or --arch.");
        if (r.Baseline && r.Weights is not null) return Fail("--input-baseline runs no model; drop --weights.");
        if (r.Weights is not null && !File.Exists(r.Weights)) return Fail($"weights file '{r.Weights}' does not exist.");
        if (r.Preset is not null && r.ConfigPath is not null) return Fail("--config goes with --arch; a preset has its own configuration.");
        if (!Directory.Exists(r.Data)) return Fail($"test folder '{r.Data}' does not exist.");
        // Where the report and images go is checked before a single image is restored.
        OutputPaths.EnsureWritableFile(r.Output);
        if (r.SaveImages is not null) OutputPaths.EnsureWritableFolder(r.SaveImages);

        var problems = new List<string>();
        var tasks = r.Tasks is { Length: > 0 } ? r.Tasks : null;
        var sets = OfficialTestLayout.Discover(r.Data, tasks, problems);
        foreach (var p in problems) Console.Error.WriteLine($"darcot eval: note: {p}");
        if (sets.Count == 0 || sets.All(s => s.Items.Count == 0)) return Fail($"no test images found under '{r.Data}'.");

        Restorer? restorer = null;
        try
        {
            var options = new EvaluationOptions { OfficialCrop = r.OfficialCrop, QuantizeOutputs = !r.NoQuantize, SaveDirectory = r.SaveImages, FailFast = r.FailFast };
            Func<Tensor, Tensor> restore;
            string methodName;
            if (r.Baseline)
            {
                restore = x => x.clone();
                methodName = r.Method ?? "Input";
            }
            else
            {
                string? configJson = null;
                if (r.ConfigPath is not null)
                {
                    if (!File.Exists(r.ConfigPath)) return Fail($"config file '{r.ConfigPath}' does not exist.");
                    configJson = File.ReadAllText(r.ConfigPath);
                }
                var restorerOptions = new RestorerOptions { Device = r.Device, Precision = CliRuntime.ParsePrecision(r.Precision) };
                var logger = new CliLogger("eval");
                restorer = bundled ? Restorer.LoadBundled(restorerOptions, logger)
                    : r.Preset is not null
                    ? Restorer.Load(Presets.Get(r.Preset), r.Weights!, r.ContainerKey, restorerOptions, logger)
                    : Restorer.Load(r.Arch!, configJson, r.Weights!, r.ContainerKey, restorerOptions, logger);
                var loaded = restorer;
                // Pad exactly as the architecture needs, so the restorer's own padding is a no-op.
                options = options with { SizeMultiple = loaded.Info.SizeMultiple, PadMode = loaded.Info.PadMode };
                restore = x =>
                {
                    using (no_grad()) return loaded.Restore(x, null, cancellationToken);
                };
                methodName = r.Method ?? r.Preset ?? r.Arch ?? BundledModel.ArchName;
            }

            var runner = new EvaluationRunner(restore, options);
            EvaluationReport report;
            try
            {
                report = Evaluate(runner, sets, methodName, cancellationToken);
            }
            catch (Exception e) when (e is IPartialEvaluation partial)
            {
                // The results so far are worth keeping: write them, marked partial, then report the stop.
                var kept = ReportWriter.Write(partial.Partial, r.Output);
                Console.Error.WriteLine($"darcot eval: wrote the partial results to {string.Join(", ", kept)}");
                return e is OperationCanceledException ? CliOutput.Cancelled("eval") : Fail(e.Message);
            }
            var written = ReportWriter.Write(report, r.Output);
            Console.Out.Write(ReportWriter.ToMarkdown(report));
            Console.Out.WriteLine($"wrote {string.Join(", ", written)}");
            foreach (var set in report.Sets)
            {
                foreach (var why in set.Skipped) Console.Error.WriteLine($"darcot eval: skipped {set.Name}/{why}");
                foreach (var why in set.Failed) Console.Error.WriteLine($"darcot eval: could not evaluate {set.Name}/{why}");
            }
            return report.Sets.Any(s => s.Failed.Count > 0) ? CliOutput.PartialFailure : 0;
        }
        finally
        {
            restorer?.Dispose();
        }
    }

    private static EvaluationReport Evaluate(EvaluationRunner runner, IReadOnlyList<TestSet> sets, string method, CancellationToken cancellationToken)
    {
        int total = sets.Sum(s => s.Items.Count);
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return runner.Run(sets, method, new SyncProgress<EvaluationProgress>(p => Console.Error.WriteLine($"[{p.Set} {p.Done}/{p.Total}] {p.Current}")), cancellationToken);
        EvaluationReport? report = null;
        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("evaluating", maxValue: total);
            int done = 0;
            report = runner.Run(sets, method, new SyncProgress<EvaluationProgress>(_ => task.Value = ++done), cancellationToken);
        });
        return report!;
    }

    private static int Fail(string message) => CliOutput.Fail("eval", message);
}
