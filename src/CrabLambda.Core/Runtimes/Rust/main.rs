
// The function's code ends above. CrabLambda appends the rest of the worker program after it, so the function's
// lines keep their numbers in the compiler's diagnostics.

#[allow(unused_imports)]
use ::crablambda::prelude::*;

fn main()
{
    ::crablambda::run(|event, context| {
        #[allow(unused_imports)]
        use ::crablambda::{ViaResult as _, ViaSerialize as _};

        let returned = ::crablambda::call(__CRABLAMBDA_HANDLER__, event, context)?;
        (&&::crablambda::Returned(returned)).into_output()
    });
}
