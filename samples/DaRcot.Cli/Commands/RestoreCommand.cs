using System.CommandLine;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot restore INPUT -o OUTPUT [(--preset NAME | --arch ARCH [--config CONFIG.json]) --weights FILE]
/// [--device cpu|cuda] [--tile N]</c>: runs a restoration network on an image, a folder of images, or the tensor
/// <c>input</c> of a <c>.safetensors</c> file.
/// </summary>
/// <remarks>
/// Images of any size are padded as the official test scripts do (Restormer/MPRNet reflect to /8, NAFNet zero to
/// /16) and cropped back; outputs are written as PNG (folders: same names, <c>.png</c>). For <c>.safetensors</c> the
/// output file holds <c>output</c> (the final image, unclamped float32) and every named output of the model (e.g.
/// MPRNet's <c>output_stage2</c>, <c>output_stage1</c>; DA-RCOT's <c>residual_embedding</c>).
/// Every error is one line on standard error and exit code 1.
/// </remarks>
public sealed class RestoreCommand : ICliCommand
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp"];

    /// <inheritdoc />
    public Command Build()
    {
        var input = new Argument<string>("input") { Description = "An image file, a folder of images, or a .safetensors file holding a tensor named 'input' (float32 NCHW)." };
        var output = new Option<string>("--output", "-o") { Description = "Output image file, folder, or .safetensors file.", Required = true };
        var preset = new Option<string?>("--preset", "-p") { Description = $"An official checkpoint preset: {string.Join(", ", Presets.All.Select(p => p.Name))}." };
        var arch = new Option<string?>("--arch", "-a") { Description = $"Architecture when not using a preset: {string.Join(", ", ModelFactory.KnownArchs)}." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file with the official constructor arguments (with --arch; official defaults when omitted)." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Checkpoint: official .pth, .safetensors or TorchSharp file (with --preset or --arch; without any of the three, the bundled denoiser is used)." };
        var containerKey = new Option<string?>("--container-key") { Description = "Key of the state_dict inside the checkpoint (default: detected, e.g. params, state_dict)." };
        var device = new Option<string>("--device", "-d") { Description = "cpu or cuda (cuda needs a CUDA build of libtorch).", DefaultValueFactory = _ => "cpu" };
        var tile = new Option<int?>("--tile") { Description = "Tiled inference with this tile size (a multiple of the architecture's size multiple)." };
        var overlap = new Option<int>("--tile-overlap") { Description = "Overlap between tiles.", DefaultValueFactory = _ => TiledRestorer.DefaultOverlap };

        var command = new Command("restore", "Restore an image, a folder of images or a safetensors tensor with Restormer, NAFNet, MPRNet or DA-RCOT weights.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { output, preset, arch, config, weights, containerKey, device, tile, overlap }) command.Options.Add(option);
        command.SetAction((parseResult, cancellationToken) => Task.FromResult(Run(new Request(
            parseResult.GetValue(input)!, parseResult.GetValue(output)!, parseResult.GetValue(preset), parseResult.GetValue(arch),
            parseResult.GetValue(config), parseResult.GetValue(weights), parseResult.GetValue(containerKey),
            parseResult.GetValue(device) ?? "cpu", parseResult.GetValue(tile), parseResult.GetValue(overlap)), cancellationToken)));
        return command;
    }

    private sealed record Request(string Input, string Output, string? Preset, string? Arch, string? ConfigPath, string? Weights,
        string? ContainerKey, string Device, int? Tile, int Overlap);

    private static int Run(Request r, CancellationToken cancellationToken)
    {
        try
        {
            // No model options at all: the small blind denoiser bundled with the library (BundledModel).
            var useBundled = r.Preset is null && r.Arch is null && r.Weights is null && r.ConfigPath is null && r.ContainerKey is null;
            if (!useBundled && (r.Preset is null) == (r.Arch is null)) return Fail("give exactly one of --preset NAME or --arch ARCH (or none of --preset, --arch, --weights for the bundled denoiser).");
            if (!useBundled && r.Weights is null) return Fail("--weights FILE is required with --preset or --arch.");
            if (r.Preset is not null && r.ConfigPath is not null) return Fail("--config goes with --arch; a preset has its own configuration.");
            var inputIsFolder = Directory.Exists(r.Input);
            if (!inputIsFolder && !File.Exists(r.Input)) return Fail($"input '{r.Input}' does not exist.");
            if (IsSafetensors(r.Output) != (!inputIsFolder && IsSafetensors(r.Input)))
                return Fail("a .safetensors input needs a .safetensors output and image inputs need image outputs.");
            if (!useBundled && !File.Exists(r.Weights)) return Fail($"weights file '{r.Weights}' does not exist.");
            string? configJson = null;
            if (r.ConfigPath is not null)
            {
                if (!File.Exists(r.ConfigPath)) return Fail($"config file '{r.ConfigPath}' does not exist.");
                configJson = File.ReadAllText(r.ConfigPath);
            }

            var options = new RestorerOptions { Device = r.Device, TileSize = r.Tile, TileOverlap = r.Overlap };
            using var restorer = useBundled ? LoadBundled(options)
                : r.Preset is not null
                ? Restorer.Load(Presets.Get(r.Preset), r.Weights!, r.ContainerKey, options)
                : Restorer.Load(r.Arch!, configJson, r.Weights!, r.ContainerKey, options);

            if (inputIsFolder) return RestoreFolder(restorer, r.Input, r.Output, cancellationToken);
            if (IsSafetensors(r.Input)) return RestoreTensors(restorer, r.Input, r.Output, cancellationToken);
            var target = Directory.Exists(r.Output) || EndsWithSeparator(r.Output)
                ? Path.Combine(r.Output, Path.GetFileNameWithoutExtension(r.Input) + ".png")
                : r.Output;
            restorer.RestoreImageFile(r.Input, target, null, cancellationToken);
            Console.Out.WriteLine($"restored {r.Input} -> {target}");
            return 0;
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled.");
        }
        catch (Exception e) when (e is DaRcotException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            return Fail(e.Message);
        }
    }

    private static int RestoreTensors(Restorer restorer, string inputPath, string outputPath, CancellationToken cancellationToken)
    {
        var tensors = SafetensorsFile.Read(inputPath);
        try
        {
            if (!tensors.TryGetValue("input", out var input))
                return Fail($"'{inputPath}' has no tensor named 'input' (it has: {string.Join(", ", tensors.Keys)}).");
            if (input.dim() != 4) return Fail($"'input' in '{inputPath}' must be NCHW, got [{string.Join(",", input.shape)}].");
            var outputs = restorer.RestoreNamed(input, null, cancellationToken);
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

    private static int RestoreFolder(Restorer restorer, string inputFolder, string outputFolder, CancellationToken cancellationToken)
    {
        if (File.Exists(outputFolder)) return Fail($"the input is a folder, so the output '{outputFolder}' must be a folder too.");
        var files = Directory.EnumerateFiles(inputFolder)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal)
            .Select(f => (Input: f, Output: Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(f) + ".png")))
            .ToList();
        if (files.Count == 0) return Fail($"no PNG, JPEG or BMP images in '{inputFolder}'.");
        var clash = files.GroupBy(f => f.Output, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null) return Fail($"{string.Join(" and ", clash.Select(c => Path.GetFileName(c.Input)))} would both be written to '{clash.Key}'.");
        Directory.CreateDirectory(outputFolder);

        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("restoring", maxValue: files.Count);
                restorer.RestoreImageFiles(files, new SyncProgress<FileProgress>(p => task.Value = p.Done), cancellationToken);
            });
        }
        else
        {
            restorer.RestoreImageFiles(files, new SyncProgress<FileProgress>(p => Console.Out.WriteLine($"[{p.Done}/{p.Total}] {p.Current}")), cancellationToken);
        }
        Console.Out.WriteLine($"restored {files.Count} images -> {outputFolder}");
        return 0;
    }

    private static Restorer LoadBundled(RestorerOptions options)
    {
        var (model, info) = BundledModel.Load();
        try
        {
            return new Restorer(model, info, options, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static bool IsSafetensors(string path) => path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    private static bool EndsWithSeparator(string path) => path.EndsWith(Path.DirectorySeparatorChar) || path.EndsWith(Path.AltDirectorySeparatorChar);

    private static int Fail(string message) => CliOutput.Fail("restore", message);
}
