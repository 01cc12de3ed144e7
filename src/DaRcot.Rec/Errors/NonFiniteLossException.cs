namespace DaRcot.Rec.Errors;

/// <summary>
/// A training loss term became NaN or infinite. The update that term would have driven was skipped and no
/// checkpoint was written for this step, so the last checkpoint on disk is the last good state.
/// </summary>
public sealed class NonFiniteLossException : DaRcotException
{
    /// <summary>The loss term that was not finite (e.g. <c>potential_loss</c>, <c>transport_loss</c>, <c>fourier</c>).</summary>
    public string Term { get; }

    /// <summary>The 1-based global step at which it happened.</summary>
    public long Step { get; }

    /// <summary>The offending value (NaN or ±∞).</summary>
    public double Value { get; }

    /// <summary>Creates the exception.</summary>
    public NonFiniteLossException(string term, long step, double value)
        : base($"Training loss term '{term}' is {value} at step {step}; the update was skipped and no checkpoint was written for this step.")
    {
        Term = term;
        Step = step;
        Value = value;
    }
}
