using System.Runtime;

namespace DaRcot.Rec.Training;

/// <summary>
/// Runs a training step inside a .NET "no GC region".
/// </summary>
/// <remarks>
/// Why: TorchSharp 0.107 turns <c>double</c> arguments (learning rates, LeakyReLU slopes, loss weights, ...) into
/// temporary native <c>Scalar</c> objects that are neither tracked by dispose scopes nor kept alive across the
/// native call that reads their handle. When a garbage collection triggered by another thread (data loading, the
/// JIT, the test host) runs during that call, the Scalar's finalizer can free it while libtorch is still using it;
/// this surfaces, randomly and only in long runs, as "Expected false to be true ... toFloat (Scalar.h)" or worse.
/// Suppressing collections for the duration of a step closes that window; the Scalars are collected between steps,
/// when nothing uses them any more. When the budget is exceeded the runtime ends the region by itself (a normal GC)
/// and the step simply runs unguarded from there on.
/// </remarks>
internal static class NativeCallGuard
{
    // Managed allocations of one step are small (tensor wrappers, scalars); 64 MiB leaves room for other threads.
    private const long Budget = 64L * 1024 * 1024;

    public static T Run<T>(bool enabled, Func<T> step)
    {
        var started = false;
        if (enabled && GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
        {
            try
            {
                started = GC.TryStartNoGCRegion(Budget);
            }
            catch (ArgumentOutOfRangeException)
            {
                started = false;
            }
            catch (InvalidOperationException)
            {
                started = false;
            }
        }
        try
        {
            return step();
        }
        finally
        {
            if (started && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
            {
                try
                {
                    GC.EndNoGCRegion();
                }
                catch (InvalidOperationException)
                {
                    // A collection happened anyway (budget exceeded); nothing to end.
                }
            }
        }
    }
}
