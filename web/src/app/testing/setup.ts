import { configure } from "@testing-library/react";

// `findBy…` waits 1 s by default: enough on a quiet machine, not on two cores shared with a test
// suite, where a page's first render alone has taken longer. A wait that succeeds ends at once.
configure({ asyncUtilTimeout: 5000 });
