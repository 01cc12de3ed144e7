using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Files;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Profiling;
using DaRcot.Rec.Runtime;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot bench --arch ARCH [--config CONFIG.json] [--weights FILE] [--size 128] [--batch 1] [--iterations 10]
/// [--warmup 2] [--device cpu] [--threads N] [--json]</c>: times forward passes of a network under
/// <c>no_grad</c> on a random input and prints mean / median / p95 latency and throughput. Random weights unless
/// <c>--weights</c> is given: latency does not depend on the weight values, so a checkpoint is only needed to
/// benchmark the exact released configuration without writing its JSON.
/// It also reports the parameters and GFLOPs of one forward pass (<see cref="FlopCounter"/>: FLOPs = 2 × multiply-adds),
/// the GFLOP/s achieved at the mean latency, this machine's float32 matmul rate at the same thread count
/// (<see cref="MatmulPeak"/>) and their ratio; for the <c>*-rec</c> architectures, the backbone alone timed the same
/// way on the same padded input, and the REC/backbone ratios of time and GFLOPs.
/// </summary>
public sealed class BenchCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var arch = new Option<string>("--arch", "-a") { Description = $"Architecture: {string.Join(", ", ModelFactory.KnownArchs)}.", Required = true };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file of official constructor arguments (default: the official defaults)." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Optional checkpoint to load (random weights otherwise)." };
        var containerKey = new Option<string?>("--container-key") { Description = "Key of the state_dict inside the checkpoint (detected when omitted)." };
        var size = new Option<int>("--size", "-s") { Description = "Input height and width in pixels.", DefaultValueFactory = _ => 128 };
        var batch = new Option<int>("--batch", "-b") { Description = "Images per forward pass.", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int>("--iterations", "-n") { Description = "Timed forward passes.", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed forward passes first (allocator and kernel warm-up).", DefaultValueFactory = _ => 2 };
        var device = new Option<string>("--device", "-d") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        // --threads is the root's recursive option (CliRuntime.Threads), applied before this runs.
        var threads = CliRuntime.Threads;
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var budget = new Option<string?>("--memory-budget") { Description = "Memory the forward pass may use, e.g. 8G (default: half the available memory, at most 4G); larger inputs are refused before anything is allocated." };
        var precision = CliRuntime.PrecisionOption();
        var command = new Command("bench", "Time forward passes of a network (random or loaded weights) and report latency, images/s, parameters, GFLOPs (2 × multiply-adds) and achieved GFLOP/s against the machine's fp32 matmul peak.");
        foreach (var option in new Option[] { arch, config, weights, containerKey, size, batch, iterations, warmup, device, json, budget, precision })
            command.Options.Add(option);
        command.SetAction((parseResult, cancellationToken) => CliOutput.RunAsync("bench", () => Run(new Request(
            parseResult.GetValue(arch)!, parseResult.GetValue(config), parseResult.GetValue(weights), parseResult.GetValue(containerKey),
            parseResult.GetValue(size), parseResult.GetValue(batch), parseResult.GetValue(iterations), parseResult.GetValue(warmup),
            parseResult.GetValue(device) ?? "cpu", parseResult.GetValue(threads), parseResult.GetValue(json), parseResult.GetValue(budget), parseResult.GetValue(precision)))));
        return command;
    }

    private sealed record Request(string Arch, string? ConfigPath, string? Weights, string? ContainerKey, int Size, int Batch,
        int Iterations, int Warmup, string Device, int? Threads, bool Json, string? MemoryBudget, string? Precision);

    /// <summary>Latencies of one network and its counted cost.</summary>
    private sealed record Timing(FlopCount Cost, double[] Milliseconds)
    {
        public double Mean => Milliseconds.Average();
        public double AchievedGflops => Cost.GigaFlops / (Mean / 1000.0);
    }

    private sealed record Result(string Arch, string Device, InferencePrecision Precision, int Threads, int Size, int Batch, int Warmup, long Parameters,
        double[] Milliseconds, FlopCount Cost, MatmulPeakResult Peak, Timing? Backbone)
    {
        public double AchievedGflops => Cost.GigaFlops / (Mean / 1000.0);
        public double AchievedOverPeak => AchievedGflops / Peak.GigaFlopsPerSecond;
        public double? RecOverBackboneTime => Backbone is null ? null : Mean / Backbone.Mean;
        public double? RecOverBackboneFlops => Backbone is null ? null : (double)Cost.Flops / Backbone.Cost.Flops;
        public double Mean => Milliseconds.Average();
        public double Median => Percentile(50);
        public double P95 => Percentile(95);
        public double Min => Milliseconds.Min();
        public double Max => Milliseconds.Max();
        public double ImagesPerSecond => Batch * 1000.0 / Mean;

        // Nearest-rank percentile: always one of the measured values, no interpolation between few samples.
        private double Percentile(double p)
        {
            var sorted = Milliseconds.Order().ToArray();
            var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
            return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
        }
    }

    private static int Run(Request r)
    {
        if (r.Size < 1) return Fail($"--size must be at least 1, got {r.Size}.");
        if (r.Batch < 1) return Fail($"--batch must be at least 1, got {r.Batch}.");
        if (r.Iterations < 1) return Fail($"--iterations must be at least 1, got {r.Iterations}.");
        if (r.Warmup < 0) return Fail($"--warmup must not be negative, got {r.Warmup}.");
        if (r.Threads is < 1) return Fail($"--threads must be at least 1, got {r.Threads}.");
        long? budget = r.MemoryBudget is null ? null : ByteSize.Parse(r.MemoryBudget);
        string? configJson = null;
        if (r.ConfigPath is not null)
        {
            if (!File.Exists(r.ConfigPath)) return Fail($"config file '{r.ConfigPath}' does not exist.");
            configJson = File.ReadAllText(r.ConfigPath);
        }
        if (r.Weights is not null && !File.Exists(r.Weights)) return Fail($"weights file '{r.Weights}' does not exist.");
        // Resolve the device before building a possibly large model, so a bad --device fails fast.
        var device = Restorer.ResolveDevice(r.Device);
        if (r.Threads is int n) set_num_threads(n);
        var precision = CliRuntime.ParsePrecision(r.Precision);

        var result = Measure(r, configJson, device, budget, precision);
        if (result is null) return 1;
        Console.Out.Write(r.Json ? ToJson(result) : ToTable(result));
        return 0;
    }

    /// <summary>Refuses (one line, returns false) a forward pass that cannot fit the memory budget, before the input
    /// exists: bench times whole images, so the restorer's plan must need no tiles.</summary>
    private static bool FitsInMemory(Request r, nn.Module<Tensor, Tensor> model, ArchInfo info, long? budget)
    {
        using var planner = new Restorer(model, info, new RestorerOptions { Device = r.Device, MemoryBudgetBytes = budget }, ownsModel: false);
        try
        {
            var plan = planner.Plan(r.Batch, info.InputChannels, r.Size, r.Size);
            if (plan.TileSize is null) return true;
            long needed = (long)r.Batch * r.Size * r.Size * (plan.WorkingBytesPerPixel + info.InputChannels * 4);
            Fail($"a forward pass on {r.Batch}×{info.InputChannels}×{r.Size}×{r.Size} needs about {ByteSize.Format(needed)} but the memory budget is {ByteSize.Format(plan.BudgetBytes)}; use a smaller --size or --batch, or raise --memory-budget.");
        }
        catch (MemoryBudgetException e)
        {
            Fail($"a forward pass on {r.Batch}×{info.InputChannels}×{r.Size}×{r.Size} needs at least {ByteSize.Format(e.NeededBytes)} but the memory budget is {ByteSize.Format(e.BudgetBytes)}; use a smaller --size or --batch.");
        }
        return false;
    }

    private static Result? Measure(Request r, string? configJson, Device device, long? budget, InferencePrecision precision)
    {
        var (model, info) = ModelFactory.Create(r.Arch, configJson, new CliLogger("bench"));
        using (model)
        {
            if (r.Weights is not null) StateDictLoader.LoadFile(model, r.Weights, r.ContainerKey, strict: true);
            model.to(device);
            model.eval();
            if (!FitsInMemory(r, model, info, budget)) return null;
            long parameters = FlopCounter.CountParameters(model);

            // A fixed generator: every run times the same input, and other users of the global RNG are untouched.
            using var generator = new Generator(0);
            using var drawn = rand(new long[] { r.Batch, info.InputChannels, r.Size, r.Size }, generator: generator).to(device);
            // In channels-last memory on the CPU, as Restorer hands images to the network (RestorerOptions.ChannelsLast).
            using var input = device.type == DeviceType.CPU ? DaRcot.Rec.Imaging.MemoryLayout.ToChannelsLast(drawn) : drawn;
            // The count is one more untimed forward pass.
            var cost = FlopCounter.Count(model, input);
            var times = Time(model, input, r, device, precision);
            Timing? backbone = null;
            if (model is ResidualConditionedMap rec)
            {
                // The backbone alone, on the input the REC map's two passes see (padded to the map's multiple), so the
                // ratio is the price of REC at this size.
                using var padded = DaRcot.Rec.Imaging.Padding.PadToMultiple(input, rec.SizeMultiple, rec.Options.PadMode);
                backbone = new Timing(FlopCounter.Count(rec.Backbone, padded), Time(rec.Backbone, padded, r, device, precision));
            }
            // Large enough to reach a GPU's rate; a CPU reaches its rate at 1024 within a fraction of a second.
            // The peak of the number format the convolutions run in.
            var peak = MatmulPeak.Measure(device, device.type == DeviceType.CUDA ? 4096 : 1024,
                dtype: precision == InferencePrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32);
            return new Result(info.Arch, device.ToString(), precision, get_num_threads(), r.Size, r.Batch, r.Warmup, parameters, times, cost, peak, backbone);
        }
    }

    private static double[] Time(nn.Module<Tensor, Tensor> model, Tensor input, Request r, Device device, InferencePrecision precision)
    {
        var times = new double[r.Iterations];
        using (no_grad())
        {
            for (var i = 0; i < r.Warmup; i++) Forward(model, input, device, precision);
            for (var i = 0; i < r.Iterations; i++)
            {
                var watch = Stopwatch.StartNew();
                Forward(model, input, device, precision);
                times[i] = watch.Elapsed.TotalMilliseconds;
            }
        }
        return times;
    }

    // One forward pass, its tensors freed at once. CUDA runs asynchronously, so wait for the kernels to finish or
    // the stopwatch would measure only the launches.
    // The precision scope is per pass, as in Restorer (its bfloat16 weight copies are part of the time).
    private static void Forward(nn.Module<Tensor, Tensor> model, Tensor input, Device device, InferencePrecision precision)
    {
        using var scope = NewDisposeScope();
        using var mixed = MixedPrecision.Enter(precision);
        _ = model.call(input);
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }

    private static string F(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);

    private static string ToTable(Result result)
    {
        var table = new Table().Title($"darcot bench: {result.Arch}")
            .AddColumn("setting").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("device", $"{result.Device} ({result.Threads} threads)");
        table.AddRow("precision", result.Precision == InferencePrecision.BFloat16 ? "bf16 mixed" : "fp32");
        table.AddRow("input", $"{result.Batch}×3×{result.Size}×{result.Size}");
        table.AddRow("parameters", result.Parameters.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("iterations", $"{result.Milliseconds.Length} (+{result.Warmup} warm-up)");
        table.AddRow("mean", $"{F(result.Mean)} ms");
        table.AddRow("median", $"{F(result.Median)} ms");
        table.AddRow("p95", $"{F(result.P95)} ms");
        table.AddRow("min / max", $"{F(result.Min)} / {F(result.Max)} ms");
        table.AddRow("throughput", $"{F(result.ImagesPerSecond)} images/s");
        var c = result.Cost;
        table.AddRow("GFLOPs per forward", $"{F(c.GigaFlops, "F3")} (conv {F(2 * c.ConvMultiplyAdds / 1e9, "F3")}, linear {F(2 * c.LinearMultiplyAdds / 1e9, "F3")}, matmul {F(2 * c.MatmulMultiplyAdds / 1e9, "F3")})");
        table.AddRow("achieved", $"{F(result.AchievedGflops, "F1")} GFLOP/s at the mean");
        table.AddRow(result.Precision == InferencePrecision.BFloat16 ? "bf16 matmul peak" : "fp32 matmul peak", $"{F(result.Peak.GigaFlopsPerSecond, "F1")} GFLOP/s ({result.Peak.Size}³, best of {result.Peak.Repetitions})");
        table.AddRow("achieved / peak", F(result.AchievedOverPeak, "P1"));
        if (result.Backbone is { } b)
        {
            table.AddRow("backbone alone", $"{F(b.Mean)} ms mean, {F(b.Cost.GigaFlops, "F3")} GFLOPs, {F(b.AchievedGflops, "F1")} GFLOP/s");
            table.AddRow("REC / backbone", $"{F(result.RecOverBackboneTime!.Value)}× time, {F(result.RecOverBackboneFlops!.Value)}× GFLOPs");
        }
        // The convention goes unwrapped under the table, so the line can be quoted whole.
        return CliTables.Render(table) + FlopCount.Convention + "." + Environment.NewLine;
    }

    private static string ToJson(Result result)
    {
        var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("arch", result.Arch);
            w.WriteString("device", result.Device);
            w.WriteNumber("threads", result.Threads);
            w.WriteString("precision", result.Precision == InferencePrecision.BFloat16 ? "bf16" : "fp32");
            w.WriteNumber("size", result.Size);
            w.WriteNumber("batch", result.Batch);
            w.WriteNumber("warmup", result.Warmup);
            w.WriteNumber("iterations", result.Milliseconds.Length);
            w.WriteNumber("parameters", result.Parameters);
            w.WriteNumber("mean_ms", result.Mean);
            w.WriteNumber("median_ms", result.Median);
            w.WriteNumber("p95_ms", result.P95);
            w.WriteNumber("min_ms", result.Min);
            w.WriteNumber("max_ms", result.Max);
            w.WriteNumber("images_per_second", result.ImagesPerSecond);
            w.WriteStartArray("times_ms");
            foreach (var t in result.Milliseconds) w.WriteNumberValue(t);
            w.WriteEndArray();
            w.WriteString("flop_convention", FlopCount.Convention);
            WriteCost(w, result.Cost);
            w.WriteNumber("achieved_gflops_per_second", result.AchievedGflops);
            w.WriteNumber("peak_matmul_gflops_per_second", result.Peak.GigaFlopsPerSecond);
            w.WriteNumber("peak_matmul_size", result.Peak.Size);
            w.WriteNumber("achieved_over_peak", result.AchievedOverPeak);
            if (result.Backbone is { } b)
            {
                w.WriteStartObject("backbone");
                w.WriteNumber("parameters", b.Cost.Parameters);
                WriteCost(w, b.Cost);
                w.WriteNumber("mean_ms", b.Mean);
                w.WriteNumber("achieved_gflops_per_second", b.AchievedGflops);
                w.WriteStartArray("times_ms");
                foreach (var t in b.Milliseconds) w.WriteNumberValue(t);
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteNumber("rec_over_backbone_time", result.RecOverBackboneTime!.Value);
                w.WriteNumber("rec_over_backbone_gflops", result.RecOverBackboneFlops!.Value);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    private static void WriteCost(Utf8JsonWriter w, FlopCount cost)
    {
        w.WriteNumber("flops", cost.Flops);
        w.WriteNumber("gflops", cost.GigaFlops);
        w.WriteNumber("conv_macs", cost.ConvMultiplyAdds);
        w.WriteNumber("linear_macs", cost.LinearMultiplyAdds);
        w.WriteNumber("matmul_macs", cost.MatmulMultiplyAdds);
    }

    private static int Fail(string message) => CliOutput.Fail("bench", message);
}
