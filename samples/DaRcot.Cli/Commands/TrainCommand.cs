using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot train CONFIG.json [--resume]</c>: optimal-transport training of any registered architecture against a
/// potential network, with a progress bar, checkpoints, a loss-history CSV and plot in the output folder.
/// </summary>
/// <remarks>
/// CONFIG.json (every field but <c>model.arch</c>, <c>data</c> and <c>output</c> has the official default):
/// <code>
/// {
///   "model":     { "arch": "darcot", "config": { ...official constructor arguments... } },
///   "potential": { "kind": "official" | "pooled", "patch": 128 },
///   "data":      { "clean": "folder of clean images", "tasks": ["denoise_25", "derain"],   // synthetic degradations
///                  or "official_root": "data/Train", "data_dir": "data_dir", "tasks": [...],   // official layout
///                  "patch_size": 128, "batch_size": 2, "samples_per_epoch": 0, "workers": 2, "seed": 1 },
///   "trainer":   { ...OtTrainerOptions: "epochs", "lr", "step", "optimizer", "potential_steps", "mode", "pairnum",
///                  "sigma", "Sigma", "seed", "max_steps", "checkpoint_every", ... },
///   "output":    "runs/my-run",
///   "device":    "cpu" | "cuda" | "cuda:N"
/// }
/// </code>
/// The output folder receives <c>checkpoint.darcot-train</c>, <c>loss_history.csv</c>, <c>loss_history.png</c>,
/// <c>config.json</c> and, at the end, <c>transport.safetensors</c> (load it with <c>darcot restore --arch ...</c>).
/// </remarks>
public sealed class TrainCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var config = new Argument<string>("config") { Description = "Training configuration (JSON): model, potential, data, trainer, output." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in the output folder." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar (log lines only)." };
        var command = new Command("train", "Train a restoration network with the DA-RCOT optimal-transport objective (FROT cost, potential network).");
        command.Arguments.Add(config);
        command.Options.Add(resume);
        command.Options.Add(quiet);
        command.SetAction((parseResult, cancellationToken) =>
            Task.FromResult(Run(parseResult.GetValue(config)!, parseResult.GetValue(resume), parseResult.GetValue(quiet), cancellationToken)));
        return command;
    }

    /// <summary>The CONFIG.json schema.</summary>
    public sealed record TrainConfig
    {
        [JsonPropertyName("model")] public ModelSection? Model { get; init; }
        [JsonPropertyName("potential")] public PotentialSection Potential { get; init; } = new();
        [JsonPropertyName("data")] public DataSection? Data { get; init; }
        [JsonPropertyName("trainer")] public OtTrainerOptions Trainer { get; init; } = new();
        [JsonPropertyName("output")] public string? Output { get; init; }
        [JsonPropertyName("device")] public string Device { get; init; } = "cpu";
    }

    public sealed record ModelSection
    {
        [JsonPropertyName("arch")] public string? Arch { get; init; }
        [JsonPropertyName("config")] public JsonObject? Config { get; init; }
    }

    public sealed record PotentialSection
    {
        [JsonPropertyName("kind")] public string Kind { get; init; } = "official";
        [JsonPropertyName("patch")] public int? Patch { get; init; }
    }

    public sealed record DataSection
    {
        [JsonPropertyName("clean")] public string? Clean { get; init; }
        [JsonPropertyName("official_root")] public string? OfficialRoot { get; init; }
        [JsonPropertyName("data_dir")] public string? DataDir { get; init; }
        [JsonPropertyName("tasks")] public string[] Tasks { get; init; } = ["denoise_25"];
        [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 128;
        [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 2;
        [JsonPropertyName("samples_per_epoch")] public int SamplesPerEpoch { get; init; }
        [JsonPropertyName("workers")] public int Workers { get; init; } = 2;
        [JsonPropertyName("seed")] public long Seed { get; init; } = 1;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    private static int Run(string configPath, bool resume, bool quiet, CancellationToken cancellationToken)
    {
        try
        {
            if (!File.Exists(configPath)) return Fail($"config file '{configPath}' does not exist.");
            var text = File.ReadAllText(configPath);
            TrainConfig cfg;
            try
            {
                cfg = JsonSerializer.Deserialize<TrainConfig>(text, JsonOptions) ?? throw new JsonException("the file is empty.");
            }
            catch (JsonException e)
            {
                return Fail($"config '{configPath}' is not valid: {e.Message}");
            }
            if (cfg.Model?.Arch is null) return Fail("config: 'model.arch' is required (" + string.Join(", ", ModelFactory.KnownArchs) + ").");
            if (cfg.Data is null) return Fail("config: 'data' is required.");
            if (cfg.Output is null) return Fail("config: 'output' (the run folder) is required.");
            var baseDir = Path.GetDirectoryName(Path.GetFullPath(configPath))!;
            var output = Path.GetFullPath(Path.Combine(baseDir, cfg.Output));
            var options = cfg.Trainer with { OutputDirectory = output, BatchSize = cfg.Trainer.BatchSize == 0 ? cfg.Data.BatchSize : cfg.Trainer.BatchSize };
            options.Validate();
            var checkpoint = Path.Combine(output, TrainingCheckpoint.DefaultFileName);
            if (resume && !File.Exists(checkpoint)) return Fail($"--resume: no checkpoint at '{checkpoint}'.");
            if (!resume && File.Exists(checkpoint)) return Fail($"'{output}' already holds a checkpoint; pass --resume to continue it or choose another output folder.");

            // The library's parser: cpu, cuda, cuda:N, with the same DeviceUnavailableException as `darcot restore`.
            var device = Restorer.ResolveDevice(cfg.Device);

            var items = LoadItems(cfg.Data, baseDir);
            if (items.Count == 0) return Fail("config: the data section yields no training images.");
            var source = new StreamingBatchSource(items, new StreamingBatchOptions
            {
                BatchSize = cfg.Data.BatchSize,
                PatchSize = cfg.Data.PatchSize,
                SamplesPerEpoch = cfg.Data.SamplesPerEpoch,
                Workers = Math.Max(1, cfg.Data.Workers),
                Seed = cfg.Data.Seed,
            }, cancellationToken: cancellationToken);

            var (model, _) = ModelFactory.Create(cfg.Model.Arch, cfg.Model.Config?.ToJsonString());
            using var transport = model;
            using nn.Module<Tensor, Tensor> potential = cfg.Potential.Kind.ToLowerInvariant() switch
            {
                "official" => new OfficialCritic(cfg.Potential.Patch ?? cfg.Data.PatchSize),
                "pooled" => new PooledCritic(),
                _ => throw new ModelConfigException("potential.kind", $"'{cfg.Potential.Kind}' is not 'official' or 'pooled'."),
            };
            if (potential is OfficialCritic oc && oc.PatchSize != cfg.Data.PatchSize)
                return Fail($"config: the official potential takes {oc.PatchSize}² patches but data.patch_size is {cfg.Data.PatchSize}; use the same size or potential.kind 'pooled'.");
            transport.to(device);
            potential.to(device);

            Directory.CreateDirectory(output);
            // Atomic: an interrupted start never leaves a truncated config.json beside a valid checkpoint.
            AtomicFile.Write(Path.Combine(output, "config.json"), stream =>
            {
                using var writer = new StreamWriter(stream, leaveOpen: true);
                writer.Write(text);
            });
            using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(quiet ? LogLevel.Information : LogLevel.Warning));
            var logger = loggerFactory.CreateLogger("darcot.train");
            using var trainer = new OtTrainer(transport, potential, options, logger, JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }));
            if (resume) trainer.Resume(checkpoint);

            var total = (long)options.Epochs * source.BatchesPerEpoch;
            if (options.MaxSteps is long max) total = Math.Min(total, max);
            if (quiet || Console.IsOutputRedirected)
                trainer.Train(source, null, cancellationToken);
            else
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("training", maxValue: Math.Max(1, total));
                        task.Value = trainer.Position.Step;
                        trainer.Train(source, new InlineProgress(p =>
                        {
                            task.Value = p.Losses.Step;
                            task.Description = $"ep {p.Losses.Epoch} step {p.Losses.Step} L_T {p.Losses.TransportLoss:G4} L_phi {p.Losses.PotentialLoss:G3} {p.ImagesPerSecond:F1} img/s";
                        }), cancellationToken);
                    });

            var weightsPath = Path.Combine(output, "transport.safetensors");
            SafetensorsFile.Write(weightsPath, transport.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.cpu()));
            var last = trainer.History.Rows.LastOrDefault();
            Console.WriteLine($"trained {trainer.Position.Step} steps; last transport loss {last?.TransportLoss:G6}; checkpoint {checkpoint}; weights {weightsPath}");
            return 0;
        }
        catch (OperationCanceledException)
        {
            return Fail("cancelled; the checkpoint holds the completed steps (continue with --resume).");
        }
        catch (DaRcotException e)
        {
            return Fail(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return Fail(e.Message);
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            // libtorch errors carry a native stack trace after the first line; the first line is the message.
            return Fail("libtorch: " + e.Message.Split('\n')[0]);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or FormatException)
        {
            return Fail(e.Message);
        }
    }

    private static IReadOnlyList<TrainingItem> LoadItems(DataSection data, string baseDir)
    {
        if ((data.Clean is null) == (data.OfficialRoot is null))
            throw new ModelConfigException("data", "give exactly one of 'clean' (clean images + synthetic degradations) or 'official_root' (the official training layout).");
        if (data.Clean is not null)
        {
            var folder = Path.GetFullPath(Path.Combine(baseDir, data.Clean));
            if (!Directory.Exists(folder)) throw new ModelConfigException("data.clean", $"folder '{folder}' does not exist.");
            return CleanFolderDataset.Build(folder, data.Tasks);
        }
        var root = Path.GetFullPath(Path.Combine(baseDir, data.OfficialRoot!));
        var dataDir = data.DataDir is null ? null : Path.GetFullPath(Path.Combine(baseDir, data.DataDir));
        return OfficialTrainLayout.Build(root, data.Tasks, dataDir).Items;
    }

    private static int Fail(string message) => CliOutput.Fail("train", message);

    private sealed class InlineProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
