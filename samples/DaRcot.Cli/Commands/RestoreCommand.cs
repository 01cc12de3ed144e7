using System.CommandLine;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Files;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Inference.Sharding;
using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot restore (INPUT | --manifest FILE) -o OUTPUT [--shard K/N] [(--preset NAME | --arch ARCH [--config CONFIG.json])
/// --weights FILE] [--device cpu|cuda] [--tile N] [--memory-budget SIZE] [--overwrite] [--fail-fast]</c>: runs a
/// restoration network on an image, a folder of images, the images a manifest lists, or the tensor <c>input</c> of a
/// <c>.safetensors</c> file.
/// </summary>
/// <remarks>
/// Images of any size are padded as the official test scripts do (Restormer/MPRNet reflect to /8, NAFNet zero to
/// /16) and cropped back. An image output is written in the format its extension names (.png, .jpg/.jpeg, .bmp);
/// folders get one PNG per input (same names). For <c>.safetensors</c> the output file holds <c>output</c> (the final
/// image, unclamped float32) and every named output of the model (e.g. MPRNet's <c>output_stage2</c>,
/// <c>output_stage1</c>; DA-RCOT's <c>residual_embedding</c>).
/// Before any compute: the output may not be the input (unless <c>--overwrite</c>) and must be writable. Large images
/// are tiled automatically to stay within the memory budget (default: half the available memory, at most 4 GB).
/// In a folder, images that cannot be restored are skipped and listed at the end (exit code 2); <c>--fail-fast</c>
/// stops at the first. Every other error is one line on standard error and exit code 1; Ctrl-C exits with 130.
/// A manifest, or a folder with <c>--shard K/N</c> (or inside a Kubernetes Indexed Job or Slurm job array, see
/// <see cref="ShardSpec.FromEnvironment"/>), is restored as one shard of a job: see <see cref="ShardedRestore"/>.
/// </remarks>
public sealed class RestoreCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var input = new Argument<string?>("input") { Description = "An image file, a folder of images, or a .safetensors file holding a tensor named 'input' (float32 NCHW); omit it with --manifest.", Arity = ArgumentArity.ZeroOrOne };
        var manifest = new Option<string?>("--manifest", "-m") { Description = "A text file listing input images, one per line (# comments; relative to its folder); outputs keep that structure under -o, existing ones are skipped." };
        var shard = new Option<string?>("--shard") { Description = "Restore only shard K of N (0-based, e.g. 0/4) of the folder or manifest; default: from JOB_COMPLETION_INDEX + DARCOT_SHARD_COUNT (Kubernetes) or SLURM_ARRAY_TASK_* (Slurm)." };
        var output = new Option<string>("--output", "-o") { Description = "Output image file (.png, .jpg, .bmp), folder, or .safetensors file.", Required = true };
        var preset = new Option<string?>("--preset", "-p") { Description = $"An official checkpoint preset: {string.Join(", ", Presets.All.Select(p => p.Name))}." };
        var arch = new Option<string?>("--arch", "-a") { Description = $"Architecture when not using a preset: {string.Join(", ", ModelFactory.KnownArchs)}." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file with the official constructor arguments (with --arch; official defaults when omitted)." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Checkpoint: official .pth, .safetensors or TorchSharp file (with --preset or --arch; without any of the three, the bundled model is used)." };
        var containerKey = new Option<string?>("--container-key") { Description = "Key of the state_dict inside the checkpoint (default: detected, e.g. params, state_dict)." };
        var device = new Option<string>("--device", "-d") { Description = "cpu or cuda (cuda needs a CUDA build of libtorch).", DefaultValueFactory = _ => "cpu" };
        var tile = new Option<int?>("--tile") { Description = "Tiled inference with this tile size (a multiple of the architecture's size multiple); default: tiles only when needed to fit the memory budget." };
        var overlap = new Option<int>("--tile-overlap") { Description = "Overlap between tiles.", DefaultValueFactory = _ => TiledRestorer.DefaultOverlap };
        var budget = new Option<string?>("--memory-budget") { Description = "Memory one restoration may use, e.g. 2G or 512M (default: half the available memory, at most 4G)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Allow the output to be the input itself (the original is replaced)." };
        var failFast = new Option<bool>("--fail-fast") { Description = "In a folder or manifest, stop at the first image that cannot be restored instead of skipping it." };
        var precision = CliRuntime.PrecisionOption();

        var command = new Command("restore", "Restore an image, a folder of images or a safetensors tensor with Restormer, NAFNet, MPRNet or DA-RCOT weights.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { output, manifest, shard, preset, arch, config, weights, containerKey, device, tile, overlap, budget, overwrite, failFast, precision })
            command.Options.Add(option);
        command.SetAction((parseResult, cancellationToken) => CliOutput.RunAsync("restore", () => Run(new Request(
            parseResult.GetValue(input), parseResult.GetValue(manifest), parseResult.GetValue(shard), parseResult.GetValue(output)!, parseResult.GetValue(preset), parseResult.GetValue(arch),
            parseResult.GetValue(config), parseResult.GetValue(weights), parseResult.GetValue(containerKey),
            parseResult.GetValue(device) ?? "cpu", parseResult.GetValue(tile), parseResult.GetValue(overlap), parseResult.GetValue(budget),
            parseResult.GetValue(overwrite), parseResult.GetValue(failFast), parseResult.GetValue(precision)), cancellationToken)));
        return command;
    }

    private sealed record Request(string? Input, string? Manifest, string? Shard, string Output, string? Preset, string? Arch, string? ConfigPath, string? Weights,
        string? ContainerKey, string Device, int? Tile, int Overlap, string? MemoryBudget, bool Overwrite, bool FailFast, string? Precision);

    private enum Kind { Image, Folder, Tensors }

    private static int Run(Request r, CancellationToken cancellationToken)
    {
        if ((r.Input is null) == (r.Manifest is null))
            return Fail(r.Input is null ? "give an INPUT (image, folder or .safetensors file) or --manifest FILE." : "give either an INPUT or --manifest FILE, not both.");
        // No model options at all: the small blind denoiser bundled with the library (BundledModel).
        var useBundled = r.Preset is null && r.Arch is null && r.Weights is null && r.ConfigPath is null && r.ContainerKey is null;
        if (!useBundled && (r.Preset is null) == (r.Arch is null)) return Fail("give exactly one of --preset NAME or --arch ARCH (or none of --preset, --arch, --weights for the bundled model).");
        if (!useBundled && r.Weights is null) return Fail("--weights FILE is required with --preset or --arch.");
        if (r.Preset is not null && r.ConfigPath is not null) return Fail("--config goes with --arch; a preset has its own configuration.");
        if (r.Tile is < 1) return Fail($"--tile must be a positive number of pixels, got {r.Tile}.");
        if (r.Overlap < 0) return Fail($"--tile-overlap must not be negative, got {r.Overlap}.");
        long? budget = r.MemoryBudget is null ? null : ByteSize.Parse(r.MemoryBudget);
        var precision = CliRuntime.ParsePrecision(r.Precision);

        // A manifest is always a (possibly single) shard; a folder is one when --shard or a scheduler says so.
        var isFolder = r.Input is not null && Directory.Exists(r.Input);
        if (r.Shard is not null && r.Manifest is null && !isFolder) return Fail("--shard needs a folder or --manifest FILE as input.");
        var shard = r.Manifest is not null || isFolder ? ShardedRestore.Resolve(r.Shard) : null;
        if (r.Manifest is not null) shard ??= (ShardSpec.Whole, "the whole manifest");
        var input = r.Input ?? "";
        var kind = isFolder ? Kind.Folder : IsSafetensors(input) ? Kind.Tensors : Kind.Image;
        var target = r.Output;
        if (shard is not null)
        {
            if (ShardedRestore.CheckOutput(r.Manifest, r.Input, r.Output) is { } shardProblem) return Fail(shardProblem);
        }
        else
        {
            if (kind != Kind.Folder && !File.Exists(input)) return Fail($"input '{input}' does not exist.");
            if (IsSafetensors(r.Output) != (kind == Kind.Tensors))
                return Fail("a .safetensors input needs a .safetensors output and image inputs need image outputs.");
            if (kind == Kind.Image && (Directory.Exists(r.Output) || EndsWithSeparator(r.Output)))
                target = Path.Combine(r.Output, Path.GetFileNameWithoutExtension(input) + ".png");
            // Everything about the output is settled before the model is even loaded.
            if (CheckOutput(kind, input, target, r.Overwrite) is { } problem) return Fail(problem);
        }

        if (!useBundled && !File.Exists(r.Weights)) return Fail($"weights file '{r.Weights}' does not exist.");
        string? configJson = null;
        if (r.ConfigPath is not null)
        {
            if (!File.Exists(r.ConfigPath)) return Fail($"config file '{r.ConfigPath}' does not exist.");
            configJson = File.ReadAllText(r.ConfigPath);
        }

        var options = new RestorerOptions { Device = r.Device, TileSize = r.Tile, TileOverlap = r.Overlap, MemoryBudgetBytes = budget, Precision = precision };
        var logger = new CliLogger("restore");
        Restorer Load() => useBundled ? Restorer.LoadBundled(options, logger)
            : r.Preset is not null
            ? Restorer.Load(Presets.Get(r.Preset), r.Weights!, r.ContainerKey, options, logger)
            : Restorer.Load(r.Arch!, configJson, r.Weights!, r.ContainerKey, options, logger);

        // A shard loads the model only when some of its outputs are missing (a finished shard re-runs in a moment).
        if (shard is { } s) return ShardedRestore.Run(r.Manifest, r.Input, r.Output, s.Spec, s.Source, Load, logger, r.FailFast, cancellationToken);
        using var restorer = Load();
        return kind switch
        {
            Kind.Folder => RestoreFolder(restorer, input, r.Output, r.FailFast, cancellationToken),
            Kind.Tensors => RestoreTensors(restorer, input, r.Output, cancellationToken),
            _ => RestoreImage(restorer, input, target, cancellationToken),
        };
    }

    /// <summary>Why the output cannot be written, or null: it is the input, has an unwritable location or an
    /// image extension no encoder writes.</summary>
    private static string? CheckOutput(Kind kind, string input, string output, bool overwrite)
    {
        if (!overwrite && OutputPaths.Same(input, output))
            return kind == Kind.Folder
                ? $"the output folder '{output}' is the input folder; its images would be replaced by the restored ones. Choose another folder, or pass --overwrite."
                : $"the output '{output}' is the input itself; restoring would replace the original. Choose another output, or pass --overwrite.";
        if (kind == Kind.Folder)
        {
            if (File.Exists(output)) return $"the input is a folder, so the output '{output}' must be a folder too.";
            OutputPaths.EnsureWritableFolder(output);
            return null;
        }
        if (kind == Kind.Image) ImageTensor.FormatOf(output);
        OutputPaths.EnsureWritableFile(output);
        return null;
    }

    private static int RestoreImage(Restorer restorer, string input, string output, CancellationToken cancellationToken)
    {
        var header = ImageTensor.Identify(input);
        var plan = restorer.Plan(1, restorer.Info.InputChannels, header.Height, header.Width, imageFile: true);
        if (plan.TileSize is { } tile)
        {
            Console.Error.WriteLine($"darcot restore: {header.Width}×{header.Height} in {tile}-pixel tiles" +
                                    (plan.Automatic ? $" to stay within the {ByteSize.Format(plan.BudgetBytes)} memory budget." : "."));
            TileProgressDisplay.Run(Path.GetFileName(input), progress => restorer.RestoreImageFile(input, output, progress, cancellationToken));
        }
        else
        {
            restorer.RestoreImageFile(input, output, null, cancellationToken);
        }
        Console.Out.WriteLine($"restored {input} -> {output}");
        return 0;
    }

    private static int RestoreTensors(Restorer restorer, string inputPath, string outputPath, CancellationToken cancellationToken)
    {
        var tensors = SafetensorsFile.Read(inputPath);
        try
        {
            if (!tensors.TryGetValue("input", out var input))
                return Fail($"'{inputPath}' has no tensor named 'input' (it has: {string.Join(", ", tensors.Keys)}).");
            if (input.dim() != 4) return Fail($"'input' in '{inputPath}' must be NCHW, got [{string.Join(",", input.shape)}].");
            IReadOnlyDictionary<string, Tensor> outputs;
            try
            {
                outputs = restorer.RestoreNamed(input, null, cancellationToken);
            }
            catch (DaRcot.Rec.Errors.DaRcotException e) when (e is DaRcot.Rec.Errors.NonFiniteTensorException or DaRcot.Rec.Errors.TensorArgumentException)
            {
                return Fail($"'{inputPath}': {e.Message}");
            }
            try
            {
                var contiguous = outputs.ToDictionary(kv => kv.Key, kv => kv.Value.contiguous());
                SafetensorsFile.Write(outputPath, contiguous);
                foreach (var t in contiguous.Values) t.Dispose();
            }
            finally
            {
                foreach (var t in outputs.Values) t.Dispose();
            }
            Console.Out.WriteLine($"restored {inputPath} -> {outputPath} ({string.Join(", ", outputs.Keys)})");
            return 0;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static int RestoreFolder(Restorer restorer, string inputFolder, string outputFolder, bool failFast, CancellationToken cancellationToken)
    {
        var files = Directory.EnumerateFiles(inputFolder)
            .Where(f => ImageTensor.SupportedExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal)
            .Select(f => (Input: f, Output: Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(f) + ".png")))
            .ToList();
        if (files.Count == 0) return Fail($"no PNG, JPEG or BMP images in '{inputFolder}'.");
        var clash = files.GroupBy(f => f.Output, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null) return Fail($"{string.Join(" and ", clash.Select(c => Path.GetFileName(c.Input)))} would both be written to '{clash.Key}'.");

        IReadOnlyList<FileFailure> failures = [];
        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("restoring", maxValue: files.Count);
                failures = restorer.RestoreImageFiles(files, new SyncProgress<FileProgress>(p => task.Value = p.Done), cancellationToken, failFast);
            });
        }
        else
        {
            failures = restorer.RestoreImageFiles(files, new SyncProgress<FileProgress>(p => Console.Out.WriteLine($"[{p.Done}/{p.Total}] {p.Current}")), cancellationToken, failFast);
        }
        foreach (var f in failures) Console.Error.WriteLine($"darcot restore: skipped {f.Input}: {f.Reason}");
        Console.Out.WriteLine($"restored {files.Count - failures.Count} of {files.Count} images -> {outputFolder}" +
                              (failures.Count > 0 ? $"; {failures.Count} skipped (listed on stderr)" : ""));
        return failures.Count > 0 ? CliOutput.PartialFailure : 0;
    }

    private static bool IsSafetensors(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    private static bool EndsWithSeparator(string path) => path.EndsWith(Path.DirectorySeparatorChar) || path.EndsWith(Path.AltDirectorySeparatorChar);

    private static int Fail(string message) => CliOutput.Fail("restore", message);
}
