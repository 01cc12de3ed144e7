using System.Runtime.Intrinsics.X86;

namespace DaRcot.Rec.Runtime;

/// <summary>The CPU as far as libtorch's kernels care: model, logical cores and the vector instruction sets that
/// decide which oneDNN kernels run (AVX2, AVX-512, AVX-512 BF16, AMX).</summary>
/// <param name="Model">The model name (from <c>/proc/cpuinfo</c> on Linux), or the architecture elsewhere.</param>
/// <param name="LogicalCores">Logical processors available to this process.</param>
/// <param name="InstructionSets">The relevant instruction sets present, e.g. <c>avx2 avx512f avx512_bf16</c>.</param>
public sealed record CpuDescription(string Model, int LogicalCores, IReadOnlyList<string> InstructionSets)
{
    private static readonly string[] Relevant =
        ["sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"];

    /// <summary>This machine.</summary>
    public static CpuDescription Current { get; } = Read();

    /// <inheritdoc />
    public override string ToString() => $"{Model}, {LogicalCores} logical cores, {string.Join(' ', InstructionSets)}";

    private static CpuDescription Read()
    {
        string? model = null;
        HashSet<string>? flags = null;
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon < 0) continue;
                    var name = line[..colon].Trim();
                    if (model is null && name == "model name") model = line[(colon + 1)..].Trim();
                    if (flags is null && name is "flags" or "Features") flags = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
                    if (model is not null && flags is not null) break;
                }
            }
        }
        catch (IOException)
        {
            // Not fatal: fall back to what the runtime itself detects.
        }
        catch (UnauthorizedAccessException)
        {
        }
        flags ??= FromIntrinsics();
        return new CpuDescription(model ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(),
            Environment.ProcessorCount, Relevant.Where(flags.Contains).ToArray());
    }

    private static HashSet<string> FromIntrinsics()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        if (Sse41.IsSupported) set.Add("sse4_1");
        if (Avx.IsSupported) set.Add("avx");
        if (Avx2.IsSupported) set.Add("avx2");
        if (Fma.IsSupported) set.Add("fma");
        if (Avx512F.IsSupported) set.Add("avx512f");
        if (Avx512BW.IsSupported) set.Add("avx512bw");
        if (Avx512F.VL.IsSupported) set.Add("avx512vl");
        return set;
    }
}
