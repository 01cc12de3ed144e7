using System.Diagnostics;
using System.Globalization;

namespace DaRcot.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/DaRcot.Benchmarks -- interleaved-shared-work [SIZE] [ROUNDS]</c>:
/// times the <see cref="SharedWorkBenchmarks"/> methods round-robin (the order rotating every round) instead of one
/// after the other. BenchmarkDotNet measures each method in its own block of time, so on a shared machine a change
/// in load between blocks shows up as a difference between methods; interleaving spreads it over all of them, which
/// is what a ratio of a few percent needs.
/// </summary>
public static class InterleavedSharedWork
{
    /// <summary>The command-line verb.</summary>
    public const string Verb = "interleaved-shared-work";

    public static void Run(string[] args)
    {
        int size = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 128;
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
        var suite = new SharedWorkBenchmarks { Size = size };
        suite.Setup();    // also checks that the references match DaRcotNet
        try
        {
            var methods = new (string Name, Action Run)[]
            {
                ("DaRcotNet (encoder+latent once)", suite.Shared),
                ("recompute latent (official)", suite.RecomputeLatent),
                ("two full passes (naive)", suite.FullTwoPass),
                ("encoder+latent alone", suite.EncoderAndLatentOnly),
            };
            foreach (var m in methods) m.Run();    // warm-up
            var times = methods.Select(_ => new List<double>()).ToArray();
            for (var r = 0; r < rounds; r++)
                for (var i = 0; i < methods.Length; i++)
                {
                    var k = (i + r) % methods.Length;
                    var watch = Stopwatch.StartNew();
                    methods[k].Run();
                    times[k].Add(watch.Elapsed.TotalMilliseconds);
                }

            static double Median(List<double> t) => t.Order().ElementAt(t.Count / 2);
            var naive = Median(times[2]);
            Console.WriteLine($"size {size}, {rounds} rounds, {BenchSetup.Threads} thread(s)");
            Console.WriteLine($"| Method | Median | Mean | Min | Median / naive |");
            Console.WriteLine($"|---|---:|---:|---:|---:|");
            for (var k = 0; k < methods.Length; k++)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {methods[k].Name} | {Median(times[k]):F1} ms | {times[k].Average():F1} ms | {times[k].Min():F1} ms | {Median(times[k]) / naive:F3} |"));
        }
        finally
        {
            suite.Cleanup();
        }
    }
}
