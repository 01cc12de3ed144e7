namespace DaRcot.Rec.Data.Samplers;

/// <summary>
/// Per-sample random streams derived from (seed, epoch, index, stream) by hashing, so a sample's randomness does not
/// depend on which thread builds it or in what order: the same seed gives the same batches however the loader is
/// scheduled, and a resumed epoch reproduces its tail exactly.
/// </summary>
public static class SampleSeed
{
    /// <summary>A 64-bit seed mixed from the arguments with SplitMix64 finalisers (well spread for nearby inputs).</summary>
    public static ulong Derive(long seed, long epoch, long index, long stream = 0)
    {
        ulong h = Mix(unchecked((ulong)seed) ^ 0x9E3779B97F4A7C15UL);
        h = Mix(h ^ unchecked((ulong)epoch));
        h = Mix(h ^ unchecked((ulong)index) * 0xBF58476D1CE4E5B9UL);
        return Mix(h ^ unchecked((ulong)stream) * 0x94D049BB133111EBUL);
    }

    /// <summary>A <see cref="Random"/> seeded from <see cref="Derive"/> (its algorithm is stable for explicit seeds).</summary>
    public static Random CreateRandom(long seed, long epoch, long index, long stream = 0) =>
        new(unchecked((int)(Derive(seed, epoch, index, stream) >> 33)));

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
