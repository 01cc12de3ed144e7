using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/DaRcot.Benchmarks -- official FOLDER [--models a,b] [--sizes 128,256]
/// [--threads N] [--reps R] [--warmup W] [--only ours|official]</c>: our network against the official PyTorch graph,
/// TorchScript-traced by <c>benchmarks/official/trace_official.py</c> into FOLDER and run by the same libtorch that
/// TorchSharp loads. For each model and size: builds ours with <see cref="ModelFactory"/> from the manifest's config,
/// loads the same <c>weights.pth</c> the traced graph was made from, checks both outputs (and the eager PyTorch output
/// saved by the script) agree, then alternates ours / official forward passes (the order flipping every round) under
/// no_grad and prints the medians and ours ÷ official. Thread count: one <c>torch.set_num_threads</c> for the whole
/// process, so both sides run with the same. Our runtime defaults apply (verified convolutions, NNPACK off); they are
/// process-wide libtorch switches, so the official graph runs under them too.
/// <c>--only</c> runs just one side, W + R times and nothing else (for an external profiler such as perf).
/// </summary>
public static class OfficialSideBySide
{
    /// <summary>The command-line verb.</summary>
    public const string Verb = "official";

    public static void Run(string[] args)
    {
        if (args.Length == 0) throw new ArgumentException("usage: official FOLDER [--models a,b] [--sizes 128,256] [--threads N] [--reps R] [--warmup W] [--only ours|official]");
        var folder = args[0];
        var opts = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2) opts[args[i].TrimStart('-')] = args[i + 1];
        int threads = int.Parse(opts.GetValueOrDefault("threads", "2"), CultureInfo.InvariantCulture);
        int reps = int.Parse(opts.GetValueOrDefault("reps", "7"), CultureInfo.InvariantCulture);
        int warmup = int.Parse(opts.GetValueOrDefault("warmup", "3"), CultureInfo.InvariantCulture);
        var only = opts.GetValueOrDefault("only");

        TorchRuntime.Configure(TorchRuntimeOptions.FromEnvironment() with { Threads = threads });
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")));
        var models = manifest.RootElement.GetProperty("models");
        var names = opts.TryGetValue("models", out var m) ? m.Split(',') : models.EnumerateObject().Select(p => p.Name).ToArray();
        Console.WriteLine($"libtorch {torch.__version__}, {get_num_threads()} thread(s), traced by PyTorch {manifest.RootElement.GetProperty("torch_version").GetString()}, " +
                          $"{Environment.ProcessorCount} cores, warm-up {warmup}, {reps} alternating rounds");
        var rows = new List<string>();
        foreach (var name in names)
        {
            var entry = models.GetProperty(name);
            int[] sizes = opts.TryGetValue("sizes", out var s)
                ? s.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()
                : entry.GetProperty("sizes").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            foreach (var size in sizes)
                rows.Add(RunOne(folder, name, entry, size, reps, warmup, only));
        }
        Console.WriteLine();
        Console.WriteLine("| model | size | threads | ours median (min) | official median (min) | ours ÷ official | max abs Δ ours vs official |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows) Console.WriteLine(row);
    }

    private static string RunOne(string folder, string name, JsonElement entry, int size, int reps, int warmup, string? only)
    {
        var dir = Path.Combine(folder, name);
        var (ours, _) = ModelFactory.Create(entry.GetProperty("arch").GetString()!, entry.GetProperty("config").GetRawText());
        var report = StateDictLoader.LoadFile(ours, Path.Combine(dir, "weights.pth"), entry.GetProperty("container_key").GetString());
        if (!report.IsExact) throw new InvalidOperationException($"{name}: weights do not match exactly");
        ours.eval();
        var official = torch.jit.load(Path.Combine(dir, $"traced_{size}.pt"));
        official.eval();
        var io = CheckpointReader.ReadStateDict(Path.Combine(dir, $"io_{size}.pth"));
        var x = io["input"];
        var eager = io["output"];
        using var noGrad = no_grad();
        // Ours gets the input as Restorer hands it over (channels-last memory, RestorerOptions.ChannelsLast); the traced
        // graph the NCHW tensor the official test scripts give it. The agreement below is checked on exactly what is timed.
        using var xChannelsLast = DaRcot.Rec.Imaging.MemoryLayout.ToChannelsLast(x);

        // Agreement (also verifies our convolution keys, outside the timing).
        double dOurs = double.NaN, dTraced, dEager;
        if (only is null)    // --only (profiling one side): no forward of the other side at all
        using (NewDisposeScope())
        {
            var decisions = TorchRuntime.VerifyConvolutions(() => ours.call(xChannelsLast).Dispose());
            var yOurs = ours.call(xChannelsLast);
            var yOfficial = First(official.call(x));
            dOurs = Max(yOurs, yOfficial);
            dTraced = Max(yOfficial, eager);
            dEager = Max(yOurs, eager);
            var slow = decisions.Where(d => d.Path != ConvolutionPath.Native).Select(d => $"{d.Key} → {d.Path}").ToArray();
            Console.WriteLine($"{name} {size}²: max|ours − official TorchScript| = {dOurs:E2}, max|ours − official eager PyTorch| = {dEager:E2}, " +
                              $"max|TorchScript − eager| = {dTraced:E2}; output {string.Join('×', yOurs.shape)}; " +
                              $"convolutions off the native path: {(slow.Length == 0 ? "none" : string.Join(", ", slow))}");
        }

        var sides = new (string Name, Action Run)[]
        {
            ("ours", () => ours.call(xChannelsLast)),
            ("official", () => First(official.call(x))),
        };
        if (only is not null) sides = sides.Where(side => side.Name == only).ToArray();
        for (var w = 0; w < warmup; w++)
            foreach (var side in sides) Time(side.Run);
        var times = sides.Select(_ => new List<double>()).ToArray();
        PerfControl("enable");
        for (var r = 0; r < reps; r++)
            for (var i = 0; i < sides.Length; i++)
            {
                var k = (i + r) % sides.Length;
                times[k].Add(Time(sides[k].Run));
            }
        PerfControl("disable");
        foreach (var t in io.Values) t.Dispose();
        official.Dispose();
        ours.Dispose();

        static double Median(List<double> t) => t.Order().ElementAt(t.Count / 2);
        for (var k = 0; k < sides.Length; k++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {sides[k].Name,-8} median {Median(times[k]),9:F1} ms  min {times[k].Min(),9:F1} ms  all [{string.Join(", ", times[k].Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}]"));
        if (sides.Length < 2) return $"| {name} | {size} | {get_num_threads()} | {sides[0].Name} only: {Median(times[0]):F1} ms | | | |";
        var (mo, mf) = (Median(times[0]), Median(times[1]));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {size}² | {get_num_threads()} | {mo:F1} ({times[0].Min():F1}) ms | {mf:F1} ({times[1].Min():F1}) ms | **{mo / mf:F3}** | {dOurs:E1} |");
    }

    /// <summary>With PERF_CTL_FIFO set (the control fifo of <c>perf record --control fifo:PATH -D -1</c>), samples only
    /// the measured rounds: not the loading, the agreement check or the warm-up.</summary>
    private static void PerfControl(string command)
    {
        var fifo = Environment.GetEnvironmentVariable("PERF_CTL_FIFO");
        if (!string.IsNullOrEmpty(fifo)) File.WriteAllText(fifo, command + "\n");
    }

    private static double Time(Action run)
    {
        using var scope = NewDisposeScope();
        var watch = Stopwatch.StartNew();
        run();
        return watch.Elapsed.TotalMilliseconds;
    }

    private static double Max(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>The image output of a TorchScript forward: the tensor itself, or the first element of a tuple (DA-RCOT:
    /// restored image, residual embedding) or list (MPRNet: stage 3, 2, 1).</summary>
    private static Tensor First(object result) => result switch
    {
        Tensor t => t,
        Tensor[] list => list[0],
        ITuple tuple => (Tensor)tuple[0]!,
        object[] items => (Tensor)items[0],
        _ => throw new InvalidOperationException($"unexpected TorchScript result {result.GetType()}"),
    };
}
