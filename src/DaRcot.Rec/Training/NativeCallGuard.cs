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
    // Budgets tried in order (the runtime caps the size it accepts). Managed allocations of a step are small
    // (tensor wrappers, scalars); the rest of the budget absorbs other threads (data loading) while a step runs.
    private static readonly long[] Budgets = { 240L << 20, 128L << 20, 64L << 20, 16L << 20 };

    // The region is process-wide: concurrent trainers share it. The first to enter starts it, the last to leave
    // ends it; a thread that enters while others are inside never starts one (starting one forces a collection,
    // which is exactly what must not happen while another step is inside a native call).
    private static readonly object Gate = new();
    private static int inside;
    private static bool owned;

    public static T Run<T>(bool enabled, Func<T> step)
    {
        if (!enabled) return step();
        Enter();
        try
        {
            return step();
        }
        finally
        {
            Exit();
        }
    }

    private static void Enter()
    {
        lock (Gate)
        {
            inside++;
            if (inside > 1 || GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) return;
            foreach (var budget in Budgets)
            {
                try
                {
                    owned = GC.TryStartNoGCRegion(budget);
                    return;
                }
                catch (ArgumentOutOfRangeException)
                {
                    // Larger than this runtime allows: try a smaller budget.
                }
                catch (InvalidOperationException)
                {
                    return;
                }
            }
        }
    }

    private static void Exit()
    {
        lock (Gate)
        {
            inside--;
            if (inside > 0 || !owned) return;
            owned = false;
            if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return;
            try
            {
                GC.EndNoGCRegion();
            }
            catch (InvalidOperationException)
            {
                // The budget was exceeded and a collection already ended the region.
            }
        }
    }
}
