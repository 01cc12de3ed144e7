using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Files;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Mpi;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Training;
using DaRcot.Rec.Training.Distributed;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot train CONFIG.json [--resume] [--fail-fast]</c>: optimal-transport training of any registered architecture
/// against a potential network, with a progress bar, checkpoints, a loss-history CSV and plot in the output folder.
/// </summary>
/// <remarks>
/// CONFIG.json (every field but <c>model.arch</c>, <c>data</c> and <c>output</c> has the official default):
/// <code>
/// {
///   "model":     { "arch": "darcot", "config": { ...official constructor arguments... },
///                  "init": "weights to start from (optional; .pth, .safetensors or a darcot train output)" },
///   "potential": { "kind": "official" | "pooled", "patch": 128, "width": 8 | 16 | 32 | 64 },
///   "data":      { "clean": "folder of clean images", "tasks": ["denoise_25", "derain"],   // synthetic degradations
///                  or "official_root": "data/Train", "data_dir": "data_dir", "tasks": [...],   // official layout
///                  "patch_size": 128, "batch_size": 2, "samples_per_epoch": 0, "workers": 2, "seed": 1,
///                  "synthesis_context": 0 },   // pixels around each patch a synthetic degradation sees (blur)
///   "trainer":   { ...OtTrainerOptions: "epochs", "lr", "step", "optimizer", "potential_steps", "mode", "pairnum",
///                  "sigma", "Sigma", "seed", "max_steps", "checkpoint_every", ... },
///   "output":    "runs/my-run",
///   "device":    "cpu" | "cuda" | "cuda:N",
///   "dtype":     "float32" | "float64"
/// }
/// </code>
/// The output folder receives <c>checkpoint.darcot-train</c>, <c>loss_history.csv</c>, <c>loss_history.png</c>,
/// <c>config.json</c> and, at the end, <c>transport.safetensors</c> (load it with <c>darcot restore --arch ...</c>).
/// Reliability: the folder is locked (<c>train.lock</c>, PID; a stale lock is taken over) and temporary files of a
/// killed run are removed; libtorch is seeded from <c>trainer.seed</c> (with <c>data.seed</c>, two runs of one config
/// give the same losses); a failed <c>--resume</c> changes nothing in the folder; images that cannot be used are
/// skipped and listed at the end (exit 2; <c>--fail-fast</c> stops instead); Ctrl-C writes a checkpoint of the
/// completed steps and exits with 130. The pooled critic's width defaults to one sized to the transport network.
/// <para>Data-parallel: <c>mpiexec.mpich -n N darcot train CONFIG.json</c> runs N ranks of one job (MPI through MPI.NET
/// on MPICH, <see cref="MpiCommunicator"/>). <c>data.batch_size</c> is the global batch; N must divide it; each rank
/// builds its own 1/N of every batch; gradients are averaged before every optimizer step; rank 0 alone takes the lock,
/// logs and writes. A rank that fails ends the whole job (MPI_Abort) instead of leaving the others waiting.</para>
/// </remarks>
public sealed class TrainCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var config = new Argument<string>("config") { Description = "Training configuration (JSON): model, potential, data, trainer, output." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in the output folder." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar (log lines only)." };
        var failFast = new Option<bool>("--fail-fast") { Description = "Stop at the first training image that cannot be used (default: skip it and list it at the end)." };
        var command = new Command("train", "Train a restoration network with the DA-RCOT optimal-transport objective (FROT cost, potential network).");
        command.Arguments.Add(config);
        command.Options.Add(resume);
        command.Options.Add(quiet);
        command.Options.Add(failFast);
        command.SetAction((parseResult, cancellationToken) => CliOutput.RunAsync("train", () =>
            RunJob(parseResult.GetValue(config)!, parseResult.GetValue(resume), parseResult.GetValue(quiet), parseResult.GetValue(failFast), cancellationToken)));
        return command;
    }

    // A single process, or one rank of a data-parallel job when an MPICH launcher started several.
    private static int RunJob(string configPath, bool resume, bool quiet, bool failFast, CancellationToken cancellationToken)
    {
        if (MpiCommunicator.StartedByOpenMpi)
            return Fail("started by Open MPI's mpirun, but the MPI binding (MPI.NET) speaks MPICH's ABI: use mpiexec.mpich -n N (eng/ensure-mpi.sh installs it).");
        if (MpiCommunicator.LauncherSize is not > 1)
            return Run(configPath, resume, quiet, failFast, SingleProcessCommunicator.Instance, cancellationToken);
        using var mpi = new MpiCommunicator();
        int code;
        try
        {
            code = Run(configPath, resume, quiet, failFast, mpi, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The other ranks would wait for this one forever in their next collective: end the whole job.
            Console.Error.WriteLine($"darcot train: rank {mpi.Rank} of {mpi.Size}: {CliOutput.Describe(e)}");
            Console.Error.Flush();
            mpi.Abort(1);
            throw;
        }
        if (code is not (0 or CliOutput.PartialFailure or CliInterrupt.ExitCode))
        {
            Console.Error.Flush();
            mpi.Abort(code);
        }
        return code;
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

        /// <summary>Type of the weights during training: "float32" (default) or "float64" (slower; used to check that
        /// data-parallel runs follow the single-process trajectory without float32 rounding in the way).</summary>
        [JsonPropertyName("dtype")] public string DType { get; init; } = "float32";
    }

    public sealed record ModelSection
    {
        [JsonPropertyName("arch")] public string? Arch { get; init; }
        [JsonPropertyName("config")] public JsonObject? Config { get; init; }
        /// <summary>Weights the transport network starts from (fine-tuning; relative to the config file), loaded strictly.</summary>
        [JsonPropertyName("init")] public string? Init { get; init; }
    }

    public sealed record PotentialSection
    {
        [JsonPropertyName("kind")] public string Kind { get; init; } = "official";
        [JsonPropertyName("patch")] public int? Patch { get; init; }
        [JsonPropertyName("width")] public int? Width { get; init; }
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
        [JsonPropertyName("synthesis_context")] public int SynthesisContext { get; init; }
        [JsonPropertyName("seed")] public long Seed { get; init; } = 1;

        /// <summary>Throws <see cref="TrainingConfigException"/> naming the first invalid field.</summary>
        public void Validate()
        {
            if (PatchSize < 1) throw new TrainingConfigException("data.patch_size", $"must be >= 1, got {PatchSize}.");
            if (BatchSize < 1) throw new TrainingConfigException("data.batch_size", $"must be >= 1, got {BatchSize}.");
            if (SamplesPerEpoch < 0) throw new TrainingConfigException("data.samples_per_epoch", $"must be >= 0 (0 = every item once), got {SamplesPerEpoch}.");
            if (Workers < 1) throw new TrainingConfigException("data.workers", $"must be >= 1, got {Workers}.");
            if (SynthesisContext < 0) throw new TrainingConfigException("data.synthesis_context", $"must be >= 0 (0 = degrade the patch alone), got {SynthesisContext}.");
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    private static int Run(string configPath, bool resume, bool quiet, bool failFast, IDataParallelCommunicator job, CancellationToken cancellationToken)
    {
        if (RegularFile.Problem(configPath) is { } problem) return Fail($"config file '{configPath}' {problem}");
        var text = File.ReadAllText(configPath);
        TrainConfig cfg;
        try
        {
            cfg = JsonSerializer.Deserialize<TrainConfig>(text, JsonOptions) ?? throw new JsonException("the file holds 'null', not a configuration object.");
        }
        catch (JsonException e)
        {
            return Fail($"config '{configPath}': {JsonErrorText.Describe(e)}");
        }
        if (cfg.Model?.Arch is null) return Fail("config: 'model.arch' is required (" + string.Join(", ", ModelFactory.KnownArchs) + ").");
        if (cfg.Data is null) return Fail("config: 'data' is required.");
        if (cfg.Output is null) return Fail("config: 'output' (the run folder) is required.");
        if (cfg.DType is not ("float32" or "float64")) return Fail($"config: 'dtype' must be \"float32\" or \"float64\", got \"{cfg.DType}\".");
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(configPath))!;
        var output = Path.GetFullPath(Path.Combine(baseDir, cfg.Output));
        var options = cfg.Trainer with { OutputDirectory = output, BatchSize = cfg.Trainer.BatchSize == 0 ? cfg.Data.BatchSize : cfg.Trainer.BatchSize };
        try
        {
            options.Validate();
            cfg.Data.Validate();
            // The global batch is data.batch_size (the same config runs on any number of ranks that divides it).
            if (job.Size > 1) DataShard.EnsureDivides(options.BatchSize, job.Size);
        }
        catch (TrainingConfigException e)
        {
            // Trainer fields are named as written in the file: 'trainer.epochs', not 'epochs'.
            var field = e.Field.Contains('.') ? e.Field : "trainer." + e.Field;
            return Fail($"config: '{field}' {e.Reason}");
        }

        // The library's parser: cpu, cuda, cuda:N, with the same DeviceUnavailableException as `darcot restore`.
        var device = Restorer.ResolveDevice(cfg.Device);
        // Rank 0 logs for the job; the other ranks report errors only.
        var level = job.Rank != 0 ? LogLevel.Error : quiet ? LogLevel.Information : LogLevel.Warning;
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(level));
        var logger = loggerFactory.CreateLogger("darcot.train");
        string? init = null;
        if (cfg.Model.Init is not null)
        {
            init = Path.GetFullPath(Path.Combine(baseDir, cfg.Model.Init));
            if (!File.Exists(init)) return Fail($"config: 'model.init' file '{init}' does not exist.");
        }
        var items = LoadItems(cfg.Data, baseDir);
        if (items.Count == 0) return Fail("config: the data section yields no training images.");

        // Rank 0 alone writes in the run folder, so it alone takes the lock.
        var writer = job.Rank == 0;
        var createdFolder = writer && !Directory.Exists(output);
        var runLock = writer ? RunFolderLock.Acquire(output, logger) : null;
        try
        {
            return TrainLocked(cfg, text, options, output, device, items, init, resume, quiet || !writer, failFast, logger, job, cancellationToken);
        }
        finally
        {
            runLock?.Dispose();
            // A run that failed before writing anything leaves no empty folder behind.
            if (createdFolder && Directory.Exists(output) && !Directory.EnumerateFileSystemEntries(output).Any()) Directory.Delete(output);
        }
    }

    private static int TrainLocked(TrainConfig cfg, string text, OtTrainerOptions options, string output, Device device,
        IReadOnlyList<TrainingItem> items, string? init, bool resume, bool quiet, bool failFast, ILogger logger, IDataParallelCommunicator job, CancellationToken cancellationToken)
    {
        var writer = job.Rank == 0;
        // Under the lock no other run writes here, so any temporary file is a killed run's.
        if (writer)
        {
            var (stale, staleBytes) = AtomicFile.DeleteStaleTemporaryFiles(output);
            if (stale > 0) Console.Error.WriteLine($"darcot train: note: removed {stale} temporary file(s) ({ByteSize.Format(staleBytes)}) left by an interrupted run.");
        }
        var checkpoint = Path.Combine(output, TrainingCheckpoint.DefaultFileName);
        if (resume && !File.Exists(checkpoint)) return Fail($"--resume: no checkpoint at '{checkpoint}'.");
        if (!resume && File.Exists(checkpoint)) return Fail($"'{output}' already holds a checkpoint; pass --resume to continue it or choose another output folder.");

        // Every random draw of a run comes from the config's seeds: libtorch's global generator (initial weights,
        // dropout) from trainer.seed, the data from data.seed, the gradient penalty from (trainer.seed, step).
        manual_seed(options.Seed);
        if (device.type == DeviceType.CUDA) cuda.manual_seed_all(options.Seed);
        // float64: both networks are built in float64 (TorchSharp's Module.to(dtype) fails on some of our modules).
        var defaultType = get_default_dtype();
        if (cfg.DType == "float64") set_default_dtype(ScalarType.Float64);
        nn.Module<Tensor, Tensor> model, potentialModule;
        string potentialDescription;
        try
        {
            (model, _) = ModelFactory.Create(cfg.Model!.Arch!, cfg.Model.Config?.ToJsonString(), logger);
            potentialModule = CreatePotential(cfg, Parameters(model), out potentialDescription);
        }
        finally
        {
            set_default_dtype(defaultType);
        }
        using var transport = model;
        // Fine-tuning: the starting weights replace the random ones (strictly: every key, every shape). A resumed run
        // then overwrites them with the checkpoint's.
        if (init is not null) StateDictLoader.LoadFile(transport, init, containerKey: null, strict: true);
        var transportParameters = Parameters(transport);
        using var potential = potentialModule;
        transport.to(device);
        potential.to(device);
        if (writer) Console.Out.WriteLine(Holds(transportParameters, Parameters(potential), potentialDescription, options.Optimizer));

        using var trainer = new OtTrainer(transport, potential, options, logger, JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }), job);
        // All or nothing: a checkpoint that does not fit this config throws here, before anything in the folder changes.
        if (resume) trainer.Resume(checkpoint);
        // Atomic: an interrupted start never leaves a truncated config.json beside a valid checkpoint.
        if (writer) AtomicFile.Write(Path.Combine(output, "config.json"), stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        });

        var data = cfg.Data!;
        using var source = new StreamingBatchSource(items, new StreamingBatchOptions
        {
            BatchSize = data.BatchSize,
            PatchSize = data.PatchSize,
            SamplesPerEpoch = data.SamplesPerEpoch,
            Workers = data.Workers,
            Seed = data.Seed,
            SynthesisContext = data.SynthesisContext,
            FailFast = failFast,
            // Data-parallel: this rank builds only its rows of every global batch.
            ShardIndex = job.Rank,
            ShardCount = job.Size,
        }, logger: logger);
        try
        {
            Train(trainer, source, options, quiet, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return CliOutput.Cancelled("train", $"cancelled after step {trainer.Position.Step}; '{checkpoint}' holds every completed step (continue with --resume).");
        }

        var weightsPath = Path.Combine(output, "transport.safetensors");
        if (!writer) return source.SkippedFiles.Count > 0 ? CliOutput.PartialFailure : 0;
        // float32 for `darcot restore`, also after a float64 run.
        SafetensorsFile.Write(weightsPath, transport.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.is_floating_point() ? kv.Value.cpu().to(ScalarType.Float32) : kv.Value.cpu()));
        var last = trainer.History.Rows.LastOrDefault();
        Console.WriteLine($"trained {trainer.Position.Step} steps; last transport loss {last?.TransportLoss:G6}; checkpoint {checkpoint}; weights {weightsPath}");
        // Steady state: the first step of a run also pays one-time costs (kernel checks at first use).
        var timing = trainer.SteadyTiming.Steps > 0 ? trainer.SteadyTiming : trainer.Timing;
        if (timing.Steps > 0)
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"throughput: {job.Size} process(es), {trainer.Timing.Steps} steps, {timing.ImagesPerSecond:F2} images/s, {timing.StepSeconds / timing.Steps * 1000:F0} ms/step, all-reduce {timing.AllReduceShare * 100:F1}% of step time (over {timing.Steps} steps after the first)"));
        if (timing is { Steps: > 0, Phases: { } phases })
            Console.WriteLine("step split (ms per step): " + string.Join(", ", phases.Named().Select(p =>
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.Name} {p.Seconds / timing.Steps * 1000:F0}"))));
        foreach (var (path, reason) in source.SkippedFiles.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            Console.Error.WriteLine($"darcot train: skipped {path}: {reason}");
        return source.SkippedFiles.Count > 0 ? CliOutput.PartialFailure : 0;
    }

    private static void Train(OtTrainer trainer, StreamingBatchSource source, OtTrainerOptions options, bool quiet, CancellationToken cancellationToken)
    {
        var total = (long)options.Epochs * source.BatchesPerEpoch;
        if (options.MaxSteps is long max) total = Math.Min(total, max);
        if (quiet || Console.IsOutputRedirected)
        {
            trainer.Train(source, null, cancellationToken);
            return;
        }
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: Math.Max(1, total));
                task.Value = trainer.Position.Step;
                trainer.Train(source, new SyncProgress<TrainingProgress>(p =>
                {
                    task.Value = p.Losses.Step;
                    task.Description = $"ep {p.Losses.Epoch} step {p.Losses.Step} L_T {p.Losses.TransportLoss:G4} L_phi {p.Losses.PotentialLoss:G3} {p.ImagesPerSecond:F1} img/s";
                }), cancellationToken);
            });
    }

    private static nn.Module<Tensor, Tensor> CreatePotential(TrainConfig cfg, long transportParameters, out string description)
    {
        var patch = cfg.Potential.Patch ?? cfg.Data!.PatchSize;
        switch (cfg.Potential.Kind.ToLowerInvariant())
        {
            case "official":
                if (cfg.Potential.Width is not null)
                    throw new TrainingConfigException("potential.width", "applies to the 'pooled' potential only; the official one has the official widths.");
                if (patch != cfg.Data!.PatchSize)
                    throw new TrainingConfigException("potential.patch", $"the official potential takes {patch}² patches but data.patch_size is {cfg.Data.PatchSize}; use the same size or potential.kind 'pooled'.");
                description = $"official F_net for {patch}² patches";
                return new OfficialCritic(patch);
            case "pooled":
                // The official trunk (13.7 M parameters) would dwarf a small transport network and its checkpoint.
                var width = cfg.Potential.Width ?? PooledCritic.WidthFor(transportParameters);
                description = $"pooled critic of width {width}{(cfg.Potential.Width is null ? ", sized to the transport network" : "")}";
                return new PooledCritic(width);
            default:
                throw new TrainingConfigException("potential.kind", $"'{cfg.Potential.Kind}' is not 'official' or 'pooled'.");
        }
    }

    private static long Parameters(nn.Module module) => module.parameters().Sum(p => p.numel());

    // What each checkpoint will hold, so a large file is never a surprise.
    private static string Holds(long transport, long potential, string potentialDescription, OptimizerKind optimizer)
    {
        // Buffers per parameter in TorchSharp's saved optimizer state (measured): RMSprop keeps three (square
        // average, momentum and gradient average, used or not), Adam two (the moments).
        int states = optimizer == OptimizerKind.Adam ? 2 : 3;
        long bytes = (transport + potential) * 4L * (1 + states);
        return $"each checkpoint holds the transport network ({transport:N0} parameters), the potential ({potential:N0}; {potentialDescription}), " +
               $"their {optimizer} states and the loss history: about {ByteSize.Format(bytes)}.";
    }

    private static IReadOnlyList<TrainingItem> LoadItems(DataSection data, string baseDir)
    {
        if ((data.Clean is null) == (data.OfficialRoot is null))
            throw new TrainingConfigException("data", "give exactly one of 'clean' (clean images + synthetic degradations) or 'official_root' (the official training layout).");
        if (data.Clean is not null)
        {
            var folder = Path.GetFullPath(Path.Combine(baseDir, data.Clean));
            if (!Directory.Exists(folder)) throw new TrainingConfigException("data.clean", $"folder '{folder}' does not exist.");
            return CleanFolderDataset.Build(folder, data.Tasks);
        }
        var root = Path.GetFullPath(Path.Combine(baseDir, data.OfficialRoot!));
        var dataDir = data.DataDir is null ? null : Path.GetFullPath(Path.Combine(baseDir, data.DataDir));
        var report = OfficialTrainLayout.Build(root, data.Tasks, dataDir);
        // Unmatched files, missing lists and missing images are named, not dropped silently.
        foreach (var problem in report.Problems) Console.Error.WriteLine($"darcot train: note: {problem}");
        return report.Items;
    }

    private static int Fail(string message) => CliOutput.Fail("train", message);
}
