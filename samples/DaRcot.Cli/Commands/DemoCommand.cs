using System.CommandLine;
using System.Globalization;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Spectre.Console;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot demo [-o demo.png] [--image CLEAN.png] [--arch ARCH [--config FILE] --weights FILE] [--seed N]</c>:
/// degrades a held-out photo with each of the five degradations (noise σ 25, rain, haze, blur, low light), restores
/// each with one model (the bundled one by default), prints PSNR/SSIM before and after, and writes one grid PNG
/// (degraded | restored | clean, one row per degradation).
/// </summary>
/// <remarks>The default photo is a 256×256 crop of scikit-image's <c>chelsea.png</c> (CC0), which no bundled model
/// saw in training; it ships inside this tool.</remarks>
public sealed class DemoCommand : ICliCommand
{
    private const string PhotoResource = "DaRcot.Cli.demo_clean.png";

    /// <inheritdoc />
    public Command Build()
    {
        var output = new Option<string>("--output", "-o") { Description = "Grid image to write, .png/.jpg/.bmp (degraded | restored | clean per degradation).", DefaultValueFactory = _ => "demo.png" };
        var image = new Option<string?>("--image") { Description = "A clean photo of your own instead of the bundled held-out one." };
        var arch = new Option<string?>("--arch", "-a") { Description = $"Architecture of --weights: {string.Join(", ", ModelFactory.KnownArchs)} (default: the bundled model)." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file of the architecture's constructor arguments (with --arch)." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Checkpoint for --arch (.pth, .safetensors, or a darcot train checkpoint)." };
        var seed = new Option<long>("--seed") { Description = "Seed of the degradations' random draws.", DefaultValueFactory = _ => 2026 };
        var precision = CliRuntime.PrecisionOption();
        var command = new Command("demo", "Degrade a held-out photo five ways, restore each, print PSNR/SSIM before and after, and write a grid PNG.");
        foreach (var option in new Option[] { output, image, arch, config, weights, seed, precision }) command.Options.Add(option);
        command.SetAction((r, cancellationToken) => CliOutput.RunAsync("demo", () => Run(r.GetValue(output)!, r.GetValue(image),
            r.GetValue(arch), r.GetValue(config), r.GetValue(weights), r.GetValue(seed), r.GetValue(precision), cancellationToken)));
        return command;
    }

    private static int Run(string output, string? imagePath, string? arch, string? configPath, string? weights, long seed, string? precisionName, CancellationToken cancellationToken)
    {
        var options = new RestorerOptions { Precision = CliRuntime.ParsePrecision(precisionName) };
        if ((arch is null) != (weights is null)) return Fail("give --arch and --weights together (or neither, for the bundled model).");
        if (configPath is not null && arch is null) return Fail("--config needs --arch and --weights.");
        if (configPath is not null && !File.Exists(configPath)) return Fail($"config file '{configPath}' does not exist.");
        if (weights is not null && !File.Exists(weights)) return Fail($"weights file '{weights}' does not exist.");
        if (imagePath is not null && !File.Exists(imagePath)) return Fail($"image '{imagePath}' does not exist.");
        ImageTensor.FormatOf(output);
        OutputPaths.EnsureWritableFile(output);

        var logger = new CliLogger("demo");
        using var clean = imagePath is null ? LoadBundledPhoto() : ImageTensor.Load(imagePath);
        using var restorer = arch is null ? Restorer.LoadBundled(options, logger)
            : Restorer.Load(arch, configPath is null ? null : File.ReadAllText(configPath), weights!, options: options, logger: logger);

        using var result = RunWithProgress(restorer, clean, seed, cancellationToken);
        ImageTensor.Save(result.Grid, output);
        // The bundled model says which rows it does not claim to improve, so a negative gain there reads as documented.
        Console.Out.Write(ToTable(result.Rows, restorer.Info.Arch, imagePath ?? "chelsea (held out, 256×256)",
            arch is null ? BundledModel.ClaimedTasks : null));
        Console.Out.WriteLine($"wrote {output} (rows: {string.Join(", ", result.Rows.Select(r => r.Task))}; columns: degraded | restored | clean)");
        return 0;
    }

    private static ShowcaseResult RunWithProgress(Restorer restorer, Tensor clean, long seed, CancellationToken cancellationToken)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return DegradationShowcase.Run(restorer, clean, seed: seed, cancellationToken: cancellationToken,
                progress: new SyncProgress<(int Done, int Total, string Task)>(p => Console.Error.WriteLine($"[{p.Done}/{p.Total}] {p.Task}")));
        ShowcaseResult? result = null;
        AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("degrading and restoring", maxValue: DegradationShowcase.DefaultTasks.Count);
            result = DegradationShowcase.Run(restorer, clean, seed: seed, cancellationToken: cancellationToken,
                progress: new SyncProgress<(int Done, int Total, string Task)>(p => task.Value = p.Done));
        });
        return result!;
    }

    private static Tensor LoadBundledPhoto()
    {
        using var stream = typeof(DemoCommand).Assembly.GetManifestResourceStream(PhotoResource)
            ?? throw new DaRcotException($"the bundled demo photo ({PhotoResource}) is missing from this build of darcot; pass --image.");
        using var image = Image.Load<Rgb24>(stream);
        return ImageTensor.FromImage(image);
    }

    private static string ToTable(IReadOnlyList<ShowcaseRow> rows, string arch, string photo, IReadOnlyList<string>? claimed)
    {
        var table = new Table().Title($"darcot demo: {arch} on {photo}")
            .AddColumn("degradation")
            .AddColumn(new TableColumn("degraded PSNR / SSIM").RightAligned())
            .AddColumn(new TableColumn("restored PSNR / SSIM").RightAligned())
            .AddColumn(new TableColumn("gain").RightAligned());
        foreach (var r in rows)
            table.AddRow(claimed is null || claimed.Contains(r.Task) ? r.Task : $"{r.Task} (not claimed)", $"{F(r.DegradedPsnr)} dB / {F(r.DegradedSsim, "F3")}", $"{F(r.RestoredPsnr)} dB / {F(r.RestoredSsim, "F3")}",
                $"{(r.PsnrGain >= 0 ? "+" : "")}{F(r.PsnrGain)} dB");
        return CliTables.Render(table);
    }

    private static string F(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);

    private static int Fail(string message) => CliOutput.Fail("demo", message);
}
